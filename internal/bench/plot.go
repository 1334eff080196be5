package bench

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colOK   = color.RGBA{R: 40, G: 90, B: 200, A: 255}
	colFail = color.RGBA{R: 220, G: 20, B: 20, A: 255}
	colMark = color.RGBA{R: 60, G: 160, B: 60, A: 255}
)

// plotRun draws one panel per scenario of a run (baselines but the direct
// one left out): every request's latency against the time it was due, on
// a log scale, failed requests as red crosses along the top, the steps of
// the upgrade as vertical lines.
func plotRun(file string, rows []*Row, rate float64) error {
	var panels []*Row
	for _, r := range rows {
		if strings.HasPrefix(r.Scenario, "baseline-") && r.Scenario != "baseline-direct" {
			continue
		}
		panels = append(panels, r)
	}
	if len(panels) == 0 {
		return fmt.Errorf("nothing to plot")
	}
	// One latency range for every panel, so they compare at a glance.
	lo, hi := math.Inf(1), 0.0
	for _, r := range panels {
		for _, p := range r.samples {
			if !p.failed && p.ms > 0 {
				lo, hi = math.Min(lo, p.ms), math.Max(hi, p.ms)
			}
		}
	}
	if hi == 0 {
		lo, hi = 0.1, 10
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	top := math.Pow(10, math.Ceil(math.Log10(hi*1.5)))
	failY := top / 1.5

	grid := make([][]*plot.Plot, len(panels))
	for i, r := range panels {
		p := plot.New()
		title := fmt.Sprintf("%s (load %s, %.0f req/s): %d/%d failed", r.Scenario, r.Path, rate, r.Failed, r.Sent)
		if r.WallMS > 0 {
			title += fmt.Sprintf(", command %.0f ms", r.WallMS)
		}
		if r.P99MS > 0 {
			title += fmt.Sprintf(", window p99 %.1f ms", r.P99MS)
		}
		p.Title.Text = title
		p.Title.TextStyle.Font.Size = vg.Points(10)
		p.Y.Label.Text = "latency (ms)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = lo, top
		if i == len(panels)-1 {
			p.X.Label.Text = "seconds since the load started"
		}
		p.Add(plotter.NewGrid())

		var ok, bad plotter.XYs
		for _, s := range r.samples {
			if s.failed {
				bad = append(bad, plotter.XY{X: s.t, Y: failY})
			} else if s.ms > 0 {
				ok = append(ok, plotter.XY{X: s.t, Y: s.ms})
			}
		}
		if sc := scatter(p, ok, colOK, 0.8, draw.CircleGlyph{}); sc != nil && i == 0 {
			p.Legend.Add("request", sc)
		}
		if sc := scatter(p, bad, colFail, 3, draw.CrossGlyph{}); sc != nil {
			p.Legend.Add("failed", sc)
		}
		var labels plotter.XYLabels
		last := math.Inf(-1)
		for _, m := range r.marks {
			ln, _ := plotter.NewLine(plotter.XYs{{X: m.t, Y: lo}, {X: m.t, Y: top}})
			ln.LineStyle.Color = colMark
			ln.LineStyle.Width = vg.Points(1)
			ln.LineStyle.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
			p.Add(ln)
			// Steps milliseconds apart share one label; the labels
			// are staggered down the panel.
			if n := len(labels.Labels); n > 0 && m.t-last < 0.1 {
				labels.Labels[n-1] += "+" + m.label
				continue
			}
			last = m.t
			y := top / math.Pow(2.2, float64(len(labels.XYs)%4)+1)
			labels.XYs = append(labels.XYs, plotter.XY{X: m.t, Y: y})
			labels.Labels = append(labels.Labels, " "+m.label)
		}
		if len(labels.XYs) > 0 {
			l, _ := plotter.NewLabels(labels)
			for k := range l.TextStyle {
				l.TextStyle[k].Color = colMark
				l.TextStyle[k].Font.Size = vg.Points(8)
			}
			p.Add(l)
		}
		p.Legend.Top = true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		grid[i] = []*plot.Plot{p}
	}

	const w, h = 9 * vg.Inch, 2.3 * vg.Inch
	img := vgimg.New(w, h*vg.Length(len(panels)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadY: vg.Points(8)}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		grid[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// scatter adds points to p as glyphs of one style, if there are any.
func scatter(p *plot.Plot, xys plotter.XYs, c color.Color, radius float64, shape draw.GlyphDrawer) *plotter.Scatter {
	if len(xys) == 0 {
		return nil
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return nil
	}
	sc.GlyphStyle.Color = c
	sc.GlyphStyle.Radius = vg.Points(radius)
	sc.GlyphStyle.Shape = shape
	p.Add(sc)
	return sc
}

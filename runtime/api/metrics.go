package api

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenement/ten/runtime/router"
	"github.com/tenement/ten/runtime/supervisor"
)

// Metrics is the Prometheus registry served at /metrics. Metric names are
// tenement's (tenement_*), so existing dashboards and alerts keep working.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	restarts *prometheus.CounterVec
}

// allStates are reported even at zero, so that a query for a state that is
// currently empty returns 0 rather than nothing.
var allStates = []supervisor.State{
	supervisor.StateStarting, supervisor.StateRunning, supervisor.StateUnhealthy,
	supervisor.StateRestarting, supervisor.StateIdle, supervisor.StateStopped, supervisor.StateFailed,
}

// NewMetrics registers ten's metrics. list is called at every scrape to
// count instances by state.
func NewMetrics(list func() []supervisor.Instance) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenement_requests_total",
			Help: "Total number of HTTP requests proxied to tenants.",
		}, []string{"process", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tenement_request_duration_ms",
			Help: "Duration of proxied requests in milliseconds, waking and respawn waits included.",
			// tenement's buckets.
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000},
		}, []string{"process"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenement_instance_restarts_total",
			Help: "Total instance restarts after a crash or failed health checks.",
		}, []string{"process", "id"}),
	}
	m.reg.MustRegister(
		m.requests, m.latency, m.restarts,
		&instanceCollector{list: list},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveProxy records one proxied request; it is the router's Observe.
func (m *Metrics) ObserveProxy(r router.Result) {
	m.requests.WithLabelValues(r.Service, strconv.Itoa(r.Status)).Inc()
	m.latency.WithLabelValues(r.Service).Observe(float64(r.Duration.Microseconds()) / 1000)
}

// ObserveEvent records supervisor events; it is the supervisor's OnEvent.
func (m *Metrics) ObserveEvent(e supervisor.Event) {
	if e.Kind == supervisor.EventRestarted {
		m.restarts.WithLabelValues(e.Instance.Service, e.Instance.ID).Inc()
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry exposes the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// instanceCollector reads instance counts at scrape time instead of keeping
// gauges in step with every state change.
type instanceCollector struct {
	list func() []supervisor.Instance
}

var (
	instancesDesc = prometheus.NewDesc("tenement_instances",
		"Number of instances by state.", []string{"state"}, nil)
	instancesUpDesc = prometheus.NewDesc("tenement_instances_up",
		"Number of running instances.", nil, nil)
)

func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- instancesDesc
	ch <- instancesUpDesc
}

func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[supervisor.State]int{}
	for _, in := range c.list() {
		counts[in.State]++
	}
	for _, s := range allStates {
		ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(instancesUpDesc, prometheus.GaugeValue, float64(counts[supervisor.StateRunning]))
}

package api

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenement/ten/runtime/supervisor"
)

// Label values that name no instance. "unknown" is tenement's own
// (cli/src/server.rs proxy_to_instance: unwrap_or("unknown")); "(retired)"
// cannot be an instance id (ids start with a letter, digit or '_').
const (
	labelUnknown = "unknown"
	labelRetired = "(retired)"
)

// series keeps /metrics bounded whatever the traffic. A Host header is the
// client's to invent, so no label value is taken from it: a request counts
// under its service only if the service is configured, and under its
// instance only if it reached one (the supervisor answered for it);
// everything else counts under "unknown". The series of instances that no
// longer exist are folded, at scrape time, into one "(retired)" series per
// service, so that sums across instances (ten-upgrade's watch reads the
// total of requests, 5xx and restarts) never go down.
type series struct {
	list     func() []supervisor.Instance
	known    func(service string) bool // set before serving; nil: none configured
	onRetire func(process, instance string)

	mu       sync.Mutex
	live     map[pair]bool // instances with series of their own
	requests map[requestKey]float64
	restarts map[pair]float64
}

type pair struct{ process, instance string }

type requestKey struct {
	pair
	status string
}

func newSeries(list func() []supervisor.Instance) *series {
	return &series{
		list:     list,
		live:     map[pair]bool{},
		requests: map[requestKey]float64{},
		restarts: map[pair]float64{},
	}
}

// labels returns the process and instance labels of a proxied request for
// service, answered by instance id ("" if none was reached).
func (s *series) labels(service, id string) (process, instance string) {
	if id != "" {
		s.mu.Lock()
		s.live[pair{service, id}] = true
		s.mu.Unlock()
		return service, id
	}
	if s.known != nil && s.known(service) {
		return service, labelUnknown
	}
	return labelUnknown, labelUnknown
}

// statusLabel bounds the status label to the codes HTTP defines.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

// retire folds the series of instances that are gone into "(retired)".
func (s *series) retire() {
	exists := map[pair]bool{}
	for _, in := range s.list() {
		exists[pair{in.Service, in.ID}] = true
	}
	s.mu.Lock()
	var gone []pair
	for p := range s.live {
		if !exists[p] {
			gone = append(gone, p)
			delete(s.live, p)
		}
	}
	for _, p := range gone {
		for k, v := range s.requests {
			if k.pair == p {
				s.requests[requestKey{pair{p.process, labelRetired}, k.status}] += v
				delete(s.requests, k)
			}
		}
		if v, ok := s.restarts[p]; ok {
			s.restarts[pair{p.process, labelRetired}] += v
			delete(s.restarts, p)
		}
	}
	s.mu.Unlock()
	for _, p := range gone {
		if s.onRetire != nil {
			s.onRetire(p.process, p.instance)
		}
	}
}

// countRequest counts one proxied request (tenement_requests_total).
func (s *series) countRequest(process, instance, status string) {
	s.mu.Lock()
	s.requests[requestKey{pair{process, instance}, status}]++
	s.mu.Unlock()
}

// countRestart counts one restart (tenement_instance_restarts_total).
func (s *series) countRestart(service, id string) {
	s.mu.Lock()
	s.live[pair{service, id}] = true
	s.restarts[pair{service, id}]++
	s.mu.Unlock()
}

// collectors export the counters: they are kept here rather than in
// CounterVecs so that retire can fold them under one lock.
func (s *series) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		&seriesCounter{s: s, desc: requestsDesc, each: func(emit func(float64, ...string)) {
			for k, v := range s.requests {
				emit(v, k.process, k.instance, k.status)
			}
		}},
		&seriesCounter{s: s, desc: restartsDesc, each: func(emit func(float64, ...string)) {
			for k, v := range s.restarts {
				emit(v, k.process, k.instance)
			}
		}},
	}
}

var (
	requestsDesc = prometheus.NewDesc("tenement_requests_total",
		"Total number of HTTP requests proxied to tenants.", []string{"process", "instance", "status"}, nil)
	restartsDesc = prometheus.NewDesc("tenement_instance_restarts_total",
		"Total instance restarts after a crash or failed health checks.", []string{"process", "id"}, nil)
)

// seriesCounter is the collector of one counter kept in series.
type seriesCounter struct {
	s    *series
	desc *prometheus.Desc
	each func(emit func(v float64, labels ...string)) // called with s.mu held
}

func (c *seriesCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *seriesCounter) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.each(func(v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, v, labels...)
	})
}

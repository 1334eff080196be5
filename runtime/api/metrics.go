package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenement/ten/runtime/router"
	"github.com/tenement/ten/runtime/supervisor"
)

// Metrics is the Prometheus registry served at /metrics. Metric names and
// labels are tenement's (tenement/src/metrics.rs, and the labels its callers
// set), so existing dashboards and alerts keep working:
//
//	tenement_requests_total{process,instance}            cli/src/server.rs proxy_to_instance
//	tenement_request_duration_ms{process,instance}       cli/src/server.rs proxy_to_instance
//	tenement_instance_restarts_total{process,id}         tenement/src/hypervisor.rs restart
//	tenement_instances_up                                tenement/src/metrics.rs
//
// ten adds a "status" label to tenement_requests_total (ten-upgrade's watch
// reads the 5xx rate from it, from every release) and the gauge
// tenement_instances{state}.
//
// Every label value comes from the configuration or an existing instance,
// never from the request: see series.go. Collectors for further metrics are
// added to NewMetrics, one field each.
type Metrics struct {
	reg      *prometheus.Registry
	series   *series
	latency  *prometheus.HistogramVec
	oomKills *prometheus.CounterVec
}

// allStates are reported even at zero, so that a query for a state that is
// currently empty returns 0 rather than nothing.
var allStates = []supervisor.State{
	supervisor.StateStarting, supervisor.StateRunning, supervisor.StateUnhealthy,
	supervisor.StateRestarting, supervisor.StateIdle, supervisor.StateStopped, supervisor.StateFailed,
}

// NewMetrics registers ten's metrics. list is called at every scrape to
// count instances by state and to retire the series of instances that are
// gone.
func NewMetrics(list func() []supervisor.Instance) *Metrics {
	s := newSeries(list)
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		series: s,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tenement_request_duration_ms",
			Help: "Duration of proxied requests in milliseconds, waking and respawn waits included.",
			// tenement's buckets (tenement/src/metrics.rs Histogram::new).
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000},
		}, []string{"process", "instance"}),
		oomKills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenement_instance_oom_kills_total",
			Help: "Instance processes killed by the kernel at their memory limit.",
		}, []string{"process", "id"}),
	}
	s.onRetire = func(process, instance string) {
		m.latency.DeletePartialMatch(prometheus.Labels{"process": process, "instance": instance})
		m.oomKills.DeletePartialMatch(prometheus.Labels{"process": process, "id": instance})
	}
	m.reg.MustRegister(append(s.collectors(),
		m.latency, m.oomKills,
		&instanceCollector{list: list}, &storageCollector{list: list},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)...)
	return m
}

// KnowServices tells which service names are configured, so that requests
// for a configured service that no instance answered keep the service's
// name. Without it only services with a reached instance are named.
func (m *Metrics) KnowServices(known func(service string) bool) { m.series.known = known }

// ObserveProxy records one proxied request; it is the router's Observe.
func (m *Metrics) ObserveProxy(r router.Result) {
	process, instance := m.series.labels(r.Service, r.ID)
	m.series.countRequest(process, instance, statusLabel(r.Status))
	m.latency.WithLabelValues(process, instance).Observe(float64(r.Duration.Microseconds()) / 1000)
}

// ObserveEvent records supervisor events; it is the supervisor's OnEvent.
func (m *Metrics) ObserveEvent(e supervisor.Event) {
	switch e.Kind {
	case supervisor.EventRestarted:
		m.series.countRestart(e.Instance.Service, e.Instance.ID)
	case supervisor.EventOOMKilled:
		m.oomKills.WithLabelValues(e.Instance.Service, e.Instance.ID).Inc()
	}
}

// Handler serves the registry in the Prometheus text format. Series of
// instances that are gone are retired first (the registry gathers its
// collectors concurrently, so this cannot be one of them).
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.series.retire()
		h.ServeHTTP(w, r)
	})
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

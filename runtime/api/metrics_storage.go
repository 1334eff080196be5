package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenement/ten/runtime/supervisor"
)

// storageCollector reports each instance's data directory usage, as the
// supervisor last measured it, at scrape time.
type storageCollector struct {
	list func() []supervisor.Instance
}

var (
	storageUsedDesc = prometheus.NewDesc("tenement_instance_storage_used_bytes",
		"Bytes used by the instance's data directory, measured every health interval.", []string{"process", "id"}, nil)
	storageQuotaDesc = prometheus.NewDesc("tenement_instance_storage_quota_bytes",
		"The instance's storage quota in bytes (storage_quota_mb); 0 is none.", []string{"process", "id"}, nil)
	storageOverDesc = prometheus.NewDesc("tenement_instance_storage_over_quota",
		"1 if the instance's data directory is at or over its quota.", []string{"process", "id"}, nil)
)

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- storageUsedDesc
	ch <- storageQuotaDesc
	ch <- storageOverDesc
}

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	for _, in := range c.list() {
		over := 0.0
		if in.StorageOverQuota {
			over = 1
		}
		ch <- prometheus.MustNewConstMetric(storageUsedDesc, prometheus.GaugeValue, float64(in.StorageUsedBytes), in.Service, in.ID)
		ch <- prometheus.MustNewConstMetric(storageQuotaDesc, prometheus.GaugeValue, float64(in.StorageQuotaBytes), in.Service, in.ID)
		ch <- prometheus.MustNewConstMetric(storageOverDesc, prometheus.GaugeValue, over, in.Service, in.ID)
	}
}

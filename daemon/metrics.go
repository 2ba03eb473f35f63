package daemon

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hearth-hub/hearth/broker"
	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/store"
)

// metrics is the daemon's Prometheus registry. Bus, store and broker
// figures are read at scrape time from the components' own counters, so
// the hot paths carry no metric code of their own.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	commands *prometheus.CounterVec
	sse      prometheus.Gauge
}

func newMetrics(h *hub.Hub, db *store.DB) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_api_requests_total", Help: "API requests by route and HTTP status.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hearth_api_request_duration_seconds", Help: "API request latency by route (streams excluded).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_commands_total", Help: "Commands by outcome (ok, failed, rejected, denied).",
		}, []string{"outcome"}),
		sse: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_api_event_streams", Help: "Open server-sent-event streams.",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.commands, m.sse,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&busCollector{h: h}, &storeCollector{db: db})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// instrument counts a request under its route pattern.
func (m *metrics) instrument(route string, stream bool, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next(sw, r)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		if !stream {
			m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets event streams through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

var (
	busPublished = prometheus.NewDesc("hearth_bus_events_published_total", "Events published on the hub's bus.", nil, nil)
	busDelivered = prometheus.NewDesc("hearth_bus_events_delivered_total", "Events drained by each subscriber.", []string{"subscriber"}, nil)
	busDropped   = prometheus.NewDesc("hearth_bus_events_dropped_total", "Events dropped because a subscriber's queue was full.", []string{"subscriber"}, nil)
	busQueued    = prometheus.NewDesc("hearth_bus_queue_depth", "Events waiting in each subscriber's queue.", []string{"subscriber"}, nil)
	busLimit     = prometheus.NewDesc("hearth_bus_queue_limit", "Capacity of each subscriber's queue.", []string{"subscriber"}, nil)
	busEntities  = prometheus.NewDesc("hearth_entities", "Registered entities.", nil, nil)
)

type busCollector struct{ h *hub.Hub }

func (c *busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{busPublished, busDelivered, busDropped, busQueued, busLimit, busEntities} {
		ch <- d
	}
}

func (c *busCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.h.Bus()
	ch <- prometheus.MustNewConstMetric(busPublished, prometheus.CounterValue, float64(b.Published()))
	ch <- prometheus.MustNewConstMetric(busEntities, prometheus.GaugeValue, float64(len(c.h.Entities())))
	// Several event streams may share a name; sum them per name.
	type agg struct{ delivered, dropped, queued, limit float64 }
	per := map[string]*agg{}
	for _, s := range b.Stats() {
		a := per[s.Name]
		if a == nil {
			a = &agg{}
			per[s.Name] = a
		}
		a.delivered += float64(s.Delivered)
		a.dropped += float64(s.Dropped)
		a.queued += float64(s.Queued)
		a.limit += float64(s.Limit)
	}
	for name, a := range per {
		ch <- prometheus.MustNewConstMetric(busDelivered, prometheus.CounterValue, a.delivered, name)
		ch <- prometheus.MustNewConstMetric(busDropped, prometheus.CounterValue, a.dropped, name)
		ch <- prometheus.MustNewConstMetric(busQueued, prometheus.GaugeValue, a.queued, name)
		ch <- prometheus.MustNewConstMetric(busLimit, prometheus.GaugeValue, a.limit, name)
	}
}

var (
	storeCommits      = prometheus.NewDesc("hearth_store_commits_total", "Transactions committed by the store's writer.", nil, nil)
	storeDurable      = prometheus.NewDesc("hearth_store_durable_commits_total", "Commits made with synchronous=FULL for critical audit rows.", nil, nil)
	storeCommitErrors = prometheus.NewDesc("hearth_store_commit_errors_total", "Commits that failed and were retried.", nil, nil)
	storeChanges      = prometheus.NewDesc("hearth_store_changes_written_total", "State changes written to history.", nil, nil)
	storeAudit        = prometheus.NewDesc("hearth_store_audit_rows_written_total", "Audit rows written.", nil, nil)
	storePending      = prometheus.NewDesc("hearth_store_pending_changes", "Changes waiting for the next group commit.", nil, nil)
	storeCommitted    = prometheus.NewDesc("hearth_store_committed_seq", "Highest event sequence number committed.", nil, nil)
	storeLastCommit   = prometheus.NewDesc("hearth_store_last_commit_duration_seconds", "How long the last commit took.", nil, nil)
)

type storeCollector struct{ db *store.DB }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{storeCommits, storeDurable, storeCommitErrors, storeChanges, storeAudit, storePending, storeCommitted, storeLastCommit} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.db.Stats()
	ch <- prometheus.MustNewConstMetric(storeCommits, prometheus.CounterValue, float64(s.Commits))
	ch <- prometheus.MustNewConstMetric(storeDurable, prometheus.CounterValue, float64(s.DurableCommits))
	ch <- prometheus.MustNewConstMetric(storeCommitErrors, prometheus.CounterValue, float64(s.CommitErrors))
	ch <- prometheus.MustNewConstMetric(storeChanges, prometheus.CounterValue, float64(s.ChangesWritten))
	ch <- prometheus.MustNewConstMetric(storeAudit, prometheus.CounterValue, float64(s.AuditWritten))
	ch <- prometheus.MustNewConstMetric(storePending, prometheus.GaugeValue, float64(s.Pending))
	ch <- prometheus.MustNewConstMetric(storeCommitted, prometheus.GaugeValue, float64(c.db.Committed()))
	ch <- prometheus.MustNewConstMetric(storeLastCommit, prometheus.GaugeValue, s.LastCommitDuration.Seconds())
}

var (
	mqttClients       = prometheus.NewDesc("hearth_mqtt_clients_connected", "MQTT clients connected to the embedded broker.", nil, nil)
	mqttMsgsReceived  = prometheus.NewDesc("hearth_mqtt_messages_received_total", "PUBLISH packets the broker received from clients.", nil, nil)
	mqttMsgsSent      = prometheus.NewDesc("hearth_mqtt_messages_sent_total", "PUBLISH packets the broker sent to clients.", nil, nil)
	mqttBytesReceived = prometheus.NewDesc("hearth_mqtt_bytes_received_total", "Bytes the broker received from clients.", nil, nil)
	mqttBytesSent     = prometheus.NewDesc("hearth_mqtt_bytes_sent_total", "Bytes the broker sent to clients.", nil, nil)
	mqttRetained      = prometheus.NewDesc("hearth_mqtt_retained_messages", "Retained messages held by the broker.", nil, nil)
	mqttSubs          = prometheus.NewDesc("hearth_mqtt_subscriptions", "Subscriptions held by the broker.", nil, nil)
	mqttInflight      = prometheus.NewDesc("hearth_mqtt_inflight_messages", "QoS 1 and 2 messages awaiting their acknowledgement.", nil, nil)
	mqttDropped       = prometheus.NewDesc("hearth_mqtt_messages_dropped_total", "Messages the broker dropped, by reason: write_queue (a subscriber's write queue was full), inflight_full (its in-flight store was full, or its packet IDs ran out).", []string{"reason"}, nil)
	mqttAuthFailures  = prometheus.NewDesc("hearth_mqtt_auth_failures_total", "Failed MQTT logins, and logins refused during a block after repeated failures.", nil, nil)
	mqttFlowWaits     = prometheus.NewDesc("hearth_mqtt_flow_waits_total", "Publishes flow control held back while a subscriber they feed was backed up.", nil, nil)
	mqttFlowTimeouts  = prometheus.NewDesc("hearth_mqtt_flow_wait_timeouts_total", "Flow control waits that hit their bound; a message that then found no room is counted in hearth_mqtt_messages_dropped_total too.", nil, nil)
)

// addBroker exports the embedded broker's counters, read at scrape time.
func (m *metrics) addBroker(b *broker.Broker) error {
	if err := m.reg.Register(&brokerCollector{b: b}); err != nil {
		return fmt.Errorf("broker metrics: %w", err)
	}
	return nil
}

type brokerCollector struct{ b *broker.Broker }

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mqttClients, mqttMsgsReceived, mqttMsgsSent, mqttBytesReceived, mqttBytesSent,
		mqttRetained, mqttSubs, mqttInflight, mqttDropped, mqttAuthFailures, mqttFlowWaits, mqttFlowTimeouts} {
		ch <- d
	}
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	for _, v := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v float64
	}{
		{mqttClients, prometheus.GaugeValue, float64(s.ClientsConnected)},
		{mqttMsgsReceived, prometheus.CounterValue, float64(s.MessagesReceived)},
		{mqttMsgsSent, prometheus.CounterValue, float64(s.MessagesSent)},
		{mqttBytesReceived, prometheus.CounterValue, float64(s.BytesReceived)},
		{mqttBytesSent, prometheus.CounterValue, float64(s.BytesSent)},
		{mqttRetained, prometheus.GaugeValue, float64(s.Retained)},
		{mqttSubs, prometheus.GaugeValue, float64(s.Subscriptions)},
		{mqttInflight, prometheus.GaugeValue, float64(s.Inflight)},
		{mqttAuthFailures, prometheus.CounterValue, float64(s.AuthFailures)},
		{mqttFlowWaits, prometheus.CounterValue, float64(s.Flow.Waits)},
		{mqttFlowTimeouts, prometheus.CounterValue, float64(s.Flow.TimedOut)},
	} {
		ch <- prometheus.MustNewConstMetric(v.d, v.t, v.v)
	}
	ch <- prometheus.MustNewConstMetric(mqttDropped, prometheus.CounterValue, float64(s.DroppedWriteQueue), "write_queue")
	ch <- prometheus.MustNewConstMetric(mqttDropped, prometheus.CounterValue, float64(s.DroppedInflight), "inflight_full")
}

package metrics

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// The SDK uses one metric name with different tag sets (temporal_request from the bare client
// carries fewer tags than from a worker), while a Prometheus vector has a fixed set of label
// names and a registry refuses a second vector under the same name. So the SDK's metrics are
// not prometheus vectors: each (name, tags) series is kept here, and at scrape time every
// series of a name is written with the union of the label names seen for that name, a label
// a series lacks being written as "" — which Prometheus treats exactly like an absent label.
// Tags with an empty value are dropped for the same reason, so that two series never collide.

type metricKind uint8

const (
	kindCounter metricKind = iota
	kindGauge
	kindTimer
)

func (k metricKind) String() string {
	switch k {
	case kindCounter:
		return "counter"
	case kindGauge:
		return "gauge"
	default:
		return "timer"
	}
}

// timerBuckets (seconds) span task latencies of a millisecond up to long polls (~70 s) and
// slow activities.
var timerBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// temporalStore holds every series the SDK reported; it is the prometheus.Collector.
type temporalStore struct {
	mu       sync.RWMutex
	series   map[string]*series   // kind|sdk name|canonical labels → series
	families map[kindName]*family // (kind, sdk name) → family
	byName   map[string]*family   // exported name → family
}

type kindName struct {
	kind metricKind
	name string
}

type family struct {
	name   string // exported, sanitised
	help   string
	kind   metricKind
	keys   map[string]struct{} // union of label names of its series
	series []*series
}

type series struct {
	names, values []string // sorted by name; no empty value
	count         atomic.Int64
	gauge         atomic.Uint64 // float64 bits
	hist          *histogram
}

func newTemporalStore() *temporalStore {
	return &temporalStore{
		series:   map[string]*series{},
		families: map[kindName]*family{},
		byName:   map[string]*family{},
	}
}

// get returns the series of (kind, name, labels), creating it (and its family) on first use.
func (st *temporalStore) get(kind metricKind, name string, l *labelSet) *series {
	key := kind.String() + "|" + name + "|" + l.key
	st.mu.RLock()
	s := st.series[key]
	st.mu.RUnlock()
	if s != nil {
		return s
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if s := st.series[key]; s != nil {
		return s
	}
	f := st.families[kindName{kind, name}]
	if f == nil {
		f = st.newFamily(kind, name)
	}
	s = &series{names: l.names, values: l.values}
	if kind == kindTimer {
		s.hist = newHistogram(timerBuckets)
	}
	for _, n := range l.names {
		f.keys[n] = struct{}{}
	}
	f.series = append(f.series, s)
	st.series[key] = s
	return s
}

// newFamily picks the exported name: the sanitised SDK name, or, should another kind of
// metric already use it, that name with the kind appended (then a number). Called with mu held.
func (st *temporalStore) newFamily(kind metricKind, name string) *family {
	base := metricName(name)
	exported := base
	for i := 1; st.byName[exported] != nil; i++ {
		exported = base + "_" + kind.String()
		if i > 1 {
			exported += "_" + strconv.Itoa(i)
		}
	}
	help := "Temporal Go SDK " + kind.String() + " " + name
	if kind == kindTimer {
		help += " (seconds)"
	}
	f := &family{name: exported, help: help, kind: kind, keys: map[string]struct{}{}}
	st.families[kindName{kind, name}] = f
	st.byName[exported] = f
	return f
}

// Describe sends nothing: the families are only known as the SDK reports them, which makes
// this an "unchecked" collector for the registry.
func (st *temporalStore) Describe(chan<- *prometheus.Desc) {}

// Collect writes every series, each family with the union of its label names.
func (st *temporalStore) Collect(ch chan<- prometheus.Metric) {
	type snap struct {
		f      *family
		keys   []string
		series []*series
	}
	st.mu.RLock()
	snaps := make([]snap, 0, len(st.byName))
	for _, f := range st.byName {
		keys := make([]string, 0, len(f.keys))
		for k := range f.keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		snaps = append(snaps, snap{f: f, keys: keys, series: append([]*series(nil), f.series...)})
	}
	st.mu.RUnlock()

	for _, sn := range snaps {
		desc := prometheus.NewDesc(sn.f.name, sn.f.help, sn.keys, nil)
		for _, s := range sn.series {
			values := s.labelValues(sn.keys)
			var m prometheus.Metric
			var err error
			switch sn.f.kind {
			case kindCounter:
				m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, float64(s.count.Load()), values...)
			case kindGauge:
				m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, math.Float64frombits(s.gauge.Load()), values...)
			case kindTimer:
				count, sum, buckets := s.hist.snapshot()
				m, err = prometheus.NewConstHistogram(desc, count, sum, buckets, values...)
			}
			if err != nil {
				continue // cannot happen with sanitised names; never fail a scrape for it
			}
			ch <- m
		}
	}
}

// labelValues lays the series' values out along keys, "" where it has no such label.
func (s *series) labelValues(keys []string) []string {
	out := make([]string, len(keys))
	j := 0
	for i, k := range keys {
		if j < len(s.names) && s.names[j] == k {
			out[i] = s.values[j]
			j++
		}
	}
	return out
}

// histogram is a fixed-bucket histogram. A mutex keeps count, sum and buckets consistent with
// each other in a scrape; timers are recorded a few times per task, so it is not contended.
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v: buckets are "less or equal"
	h.mu.Lock()
	if i < len(h.counts) {
		h.counts[i]++
	}
	h.count++
	h.sum += v
	h.mu.Unlock()
}

// snapshot returns the count, sum and cumulative bucket counts.
func (h *histogram) snapshot() (uint64, float64, map[float64]uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	buckets := make(map[float64]uint64, len(h.bounds))
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		buckets[b] = cum
	}
	return h.count, h.sum, buckets
}

// labelSet is a handler's tags: sanitised names, sorted, empty values dropped, with a
// canonical string form to key series by.
type labelSet struct {
	names, values []string
	key           string
}

func newLabelSet(tags map[string]string) *labelSet {
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	sort.Strings(names)
	l := &labelSet{names: names, values: make([]string, len(names))}
	var b strings.Builder
	for i, n := range names {
		l.values[i] = tags[n]
		// Label names cannot contain '=' or '\x00' once sanitised; values can contain
		// anything, so they are length-prefixed.
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(len(tags[n])))
		b.WriteByte(':')
		b.WriteString(tags[n])
		b.WriteByte(0)
	}
	l.key = b.String()
	return l
}

// temporalHandler implements client.MetricsHandler over a temporalStore.
type temporalHandler struct {
	store *temporalStore
	tags  map[string]string // sanitised name → non-empty value
	once  sync.Once
	set   *labelSet
}

var _ client.MetricsHandler = (*temporalHandler)(nil)

func (h *temporalHandler) labels() *labelSet {
	h.once.Do(func() { h.set = newLabelSet(h.tags) })
	return h.set
}

// WithTags returns a handler with tags added to this one's; a tag already set is overwritten,
// and a tag set to "" is removed (Prometheus does not tell an empty label from a missing one).
func (h *temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	// Sorted, so that two keys sanitising to one label name resolve the same way every time.
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := labelName(k)
		if v := tags[k]; v == "" {
			delete(merged, n)
		} else {
			merged[n] = v
		}
	}
	return &temporalHandler{store: h.store, tags: merged}
}

// Counter returns the counter of name under this handler's tags. Negative increments are
// ignored: a Prometheus counter only goes up.
func (h *temporalHandler) Counter(name string) client.MetricsCounter {
	s := h.store.get(kindCounter, name, h.labels())
	return counterFunc(func(d int64) {
		if d > 0 {
			s.count.Add(d)
		}
	})
}

// Gauge returns the gauge of name under this handler's tags.
func (h *temporalHandler) Gauge(name string) client.MetricsGauge {
	s := h.store.get(kindGauge, name, h.labels())
	return gaugeFunc(func(v float64) { s.gauge.Store(math.Float64bits(v)) })
}

// Timer returns the timer of name under this handler's tags, a histogram in seconds.
func (h *temporalHandler) Timer(name string) client.MetricsTimer {
	s := h.store.get(kindTimer, name, h.labels())
	return timerFunc(func(d time.Duration) {
		if d < 0 {
			d = 0
		}
		s.hist.observe(d.Seconds())
	})
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

// metricName turns an SDK metric name into a Prometheus one: temporal_ prefix, and every
// character outside [a-zA-Z0-9_:] (dots included) as '_'.
func metricName(name string) string {
	s := sanitize(name, true)
	if !strings.HasPrefix(s, "temporal_") {
		s = "temporal_" + s
	}
	return s
}

// labelName turns a tag key into a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, and not
// the reserved __ prefix).
func labelName(key string) string {
	s := sanitize(key, false)
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "_" + s
	}
	if strings.HasPrefix(s, "__") {
		s = "tag" + s
	}
	return s
}

func sanitize(s string, colonOK bool) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (colonOK && c == ':')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

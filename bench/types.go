package bench

import (
	"time"

	"github.com/epcflow/epcflow/internal/histstats"
)

// Report is everything a run measured.
type Report struct {
	Environment Environment `json:"environment"`
	// EndToEnd is nil when only the ceiling ran.
	EndToEnd *EndToEnd `json:"endToEnd,omitempty"`
	Ceiling  Reference `json:"ceiling"`
	// Floor is nil when it did not run (ceiling only).
	Floor *Reference `json:"floor,omitempty"`
	// Ratio is end-to-end throughput / ceiling throughput (1: as fast as Temporal allows).
	Ratio float64 `json:"ratio"`
	// FloorRatio is end-to-end throughput / floor throughput.
	FloorRatio float64 `json:"floorRatio"`
	// Sustainable is the highest offered rate found at which end-to-end p99 stays under 2 s
	// (nil: not searched).
	Sustainable *Sustainable `json:"sustainable,omitempty"`
	// LatencyRatioP50 is ceiling p50 / end-to-end p50, in the same direction as Ratio.
	LatencyRatioP50 float64 `json:"latencyRatioP50"`
	// CPURatio is ceiling CPU time per workflow / end-to-end CPU time per order: the
	// throughput ratio to expect on a machine that does nothing else.
	CPURatio float64 `json:"cpuRatio"`
	// WorkerIdle is the worker's memory once it polls, before any order.
	WorkerIdle Memory `json:"workerIdle"`
	// Worker is the worker's memory after the end-to-end phase.
	Worker Memory `json:"worker"`
	// Process is this process's memory (Temporal server, API, sandbox, and the worker when
	// it runs in-process) at the end.
	Process Memory      `json:"process"`
	Open    *OpenOrders `json:"openOrders,omitempty"`
	// LongOpen is the long-open Appraisal (nil: not run).
	LongOpen *LongOpen `json:"longOpen,omitempty"`
	Targets  []Target  `json:"targets"`
}

// Environment describes where and how the run happened.
type Environment struct {
	Started    time.Time `json:"started"`
	GoVersion  string    `json:"goVersion"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	Orders     int       `json:"orders"`
	Rate       float64   `json:"rate"` // orders started per second; negative: all at once
	Warmup     int       `json:"warmup"`
	Database   string    `json:"database"` // "sqlite in memory", the file, or the PostgreSQL URL without password
	Encrypted  bool      `json:"payloadsEncrypted"`
	WorkerMode string    `json:"workerMode"` // "child process" or "in process"
	// LoadAverage is /proc/loadavg's 1-minute figure when the run started and ended: the
	// machine may be shared, and a load above the CPU count means the figures are too.
	LoadAverageStart float64 `json:"loadAverageStart"`
	LoadAverageEnd   float64 `json:"loadAverageEnd"`
}

// EndToEnd is the FloodCertification run through the whole stack.
type EndToEnd struct {
	// OfferedRate is the orders started per second (negative: all at once).
	OfferedRate float64 `json:"offeredRate"`
	Completed   int     `json:"completed"`
	// Throughput is completed orders per second, from the first webhook sent to the last
	// completed PATCH the sandbox recorded.
	Throughput float64 `json:"throughputPerSec"`
	WallMs     float64 `json:"wallMs"`
	// Latency runs from an order's first webhook sent to the sandbox's record of its
	// completed PATCH.
	Latency Latency `json:"latency"`
	// Webhook is every webhook the API answered during the phase (request sent → 202): the
	// ones this benchmark sent and the ones the sandbox sent on its own (relayed).
	Webhook Latency `json:"webhook"`
	// WebhookCreated is the orders' `created` transaction webhooks alone.
	WebhookCreated Latency `json:"webhookCreated"`
	// WebhookRate is all webhooks answered per second of the phase.
	WebhookRate float64 `json:"webhooksPerSec"`
	// WebhookRetries counts the webhook tries made again because the API answered 5xx or 429
	// or not at all, both the benchmark's and the sandbox's (relayed).
	WebhookRetries Retries `json:"webhookRetries"`
	History        History `json:"history"`
	CPU            CPU     `json:"cpu"`
	// VisibilityLagMs is how long after the last order the visibility store (search
	// attributes) showed every order closed; the next phase starts only then.
	VisibilityLagMs float64 `json:"visibilityLagMs"`

	latencies []time.Duration
}

// History describes the workflow histories of the measured orders (internal/histstats counts
// them: Temporal actions as issue 12 defines them).
type History struct {
	// Events and Activities are the median events and ActivityTaskScheduled events per order.
	Events     int `json:"eventsPerOrder"`
	Activities int `json:"activitiesPerOrder"`
	// Min and max across orders: webhook-triggered re-reads vary with timing.
	EventsMin     int `json:"eventsMin"`
	EventsMax     int `json:"eventsMax"`
	ActivitiesMin int `json:"activitiesMin"`
	ActivitiesMax int `json:"activitiesMax"`
	// Actions, EventsMean and Bytes are means per order: what the orders cost in all,
	// divided by their number.
	Actions    float64 `json:"actionsPerOrder"`
	ActionsMin int     `json:"actionsMin"`
	ActionsMax int     `json:"actionsMax"`
	EventsMean float64 `json:"eventsMeanPerOrder"`
	Bytes      float64 `json:"bytesPerOrder"`
	// Total is every order's counts added up: the breakdown of the actions.
	Total histstats.Counts `json:"total"`
}

// Reference is a reference workflow's run: the ceiling or the floor (ceiling.go, floor.go).
type Reference struct {
	Workflows            int     `json:"workflows"`
	ActivitiesPerOrder   int     `json:"activitiesPerWorkflow"`
	Throughput           float64 `json:"throughputPerSec"`
	WallMs               float64 `json:"wallMs"`
	Latency              Latency `json:"latency"` // start → result
	HistoryEventsPerFlow int     `json:"historyEventsPerWorkflow"`
	// ActionsPerFlow and Counts are one workflow's history (they are all alike).
	ActionsPerFlow  int              `json:"actionsPerWorkflow"`
	Counts          histstats.Counts `json:"history"`
	CPU             CPU              `json:"cpu"`
	VisibilityLagMs float64          `json:"visibilityLagMs"`

	latencies []time.Duration
}

// Ceiling is the ceiling's run (its older name).
type Ceiling = Reference

// OpenOrders is the memory measurement with Appraisal orders left open.
type OpenOrders struct {
	Orders int `json:"orders"`
	// Waiting is how many were counted waiting for the appraiser (EpcStage
	// awaiting-schedule, partner status PATCHed) when memory was read.
	Waiting   int     `json:"waiting"`
	ReachedMs float64 `json:"reachedMs"` // from the first order placed to all waiting
	Worker    Memory  `json:"worker"`
	Process   Memory  `json:"process"`
	// WorkerBytesPerOrder is the worker's RSS above its idle RSS, per open order.
	WorkerBytesPerOrder float64 `json:"workerBytesPerOrder"`
	// Database sizes (0 for an in-memory database): before the orders were placed, once all
	// waited, and the difference per open order.
	DatabaseBytesBefore   int64   `json:"databaseBytesBefore,omitempty"`
	DatabaseBytesAfter    int64   `json:"databaseBytesAfter,omitempty"`
	DatabaseBytesPerOrder float64 `json:"databaseBytesPerOrder,omitempty"`
}

// Target is one of the project's performance targets and how the run did against it.
type Target struct {
	Name     string  `json:"name"`
	Goal     string  `json:"goal"`
	Measured float64 `json:"measured"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
}

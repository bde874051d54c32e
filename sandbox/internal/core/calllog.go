package core

import "time"

// Call is one API call the sandbox served, as its call logs keep it.
type Call struct {
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
	At     time.Time `json:"at"`
	// Fault names an injected fault that answered instead of the API, if any.
	Fault string `json:"fault,omitempty"`
}

// MaxCalls bounds a CallLog; the oldest half is dropped when it is full.
const MaxCalls = 10000

// CallLog is a bounded log of calls. Not safe for concurrent use: its owner locks.
type CallLog struct {
	Calls   []Call
	Dropped int // the oldest calls dropped to bound memory
}

// Add appends c, dropping the oldest half of the log when it is full.
func (l *CallLog) Add(c Call) {
	if len(l.Calls) >= MaxCalls {
		n := MaxCalls / 2
		l.Calls = append(l.Calls[:0], l.Calls[n:]...)
		l.Dropped += n
	}
	l.Calls = append(l.Calls, c)
}

package sbtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
)

// Message is one request a fake partner received.
type Message struct {
	Header http.Header
	Body   []byte
}

// Webhook decodes an EPC webhook.
func (m Message) Webhook() epc.Webhook {
	var wh epc.Webhook
	_ = json.Unmarshal(m.Body, &wh)
	return wh
}

// Hang, as an answer's status, holds the request open until the sender gives up.
const Hang = -1

// Answer is a fake partner's reply to its n-th message (1-based): a status and a body.
type Answer func(n int, m Message) (int, string)

// Receiver is a fake partner endpoint: it records every POST to its path, in arrival order,
// before answering (so once the sandbox is idle, every message is here), and answers as told.
type Receiver struct {
	t    testing.TB
	srv  *httptest.Server
	path string
	got  chan Message

	mu     sync.Mutex
	all    []Message
	answer Answer
	dflt   Answer
}

// NewReceiver serves a fake partner at path; dflt answers when no SetAnswer is in force (nil
// means 200 with no body).
func NewReceiver(t testing.TB, path string, dflt Answer) *Receiver {
	rc := &Receiver{t: t, path: path, got: make(chan Message, 1000), dflt: dflt}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != rc.path || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	m := Message{Header: r.Header.Clone(), Body: body}
	rc.mu.Lock()
	rc.all = append(rc.all, m)
	n, answer := len(rc.all), rc.answer
	rc.mu.Unlock()
	if answer == nil {
		answer = rc.dflt
	}
	status, reply := http.StatusOK, ""
	if answer != nil {
		status, reply = answer(n, m)
	}
	if status == Hang {
		// Block until the sender gives up (its timeout): no sleeping on either side.
		<-r.Context().Done()
		return
	}
	rc.got <- m
	if reply != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reply)
}

// URL is the receiver's base URL; messages go to URL()+path.
func (rc *Receiver) URL() string { return rc.srv.URL }

// Close stops the receiver: nobody listens there any more.
func (rc *Receiver) Close() { rc.srv.Close() }

// SetAnswer replaces the answer (nil: the default one).
func (rc *Receiver) SetAnswer(f Answer) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

// Status answers every message with status and no body.
func Status(status int) Answer { return func(int, Message) (int, string) { return status, "" } }

// Received returns every message received so far.
func (rc *Receiver) Received() []Message {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Message(nil), rc.all...)
}

// Drain returns the messages answered and not yet read by Next or Drain (call after Idle).
func (rc *Receiver) Drain() []Message {
	var out []Message
	for {
		select {
		case m := <-rc.got:
			out = append(out, m)
		default:
			return out
		}
	}
}

// Next waits for the next message matching keep (nil: any), discarding the others.
func (rc *Receiver) Next(keep func(Message) bool) Message {
	rc.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-rc.got:
			if keep == nil || keep(m) {
				return m
			}
		case <-timeout:
			rc.t.Fatal("timed out waiting for a message at " + rc.path)
			return Message{}
		}
	}
}

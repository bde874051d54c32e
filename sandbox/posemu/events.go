package posemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/epcflow/epcflow/internal/wait"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/schemas"
)

// packageEventPath is where the partner receives Create Package Events, under PartnerURL.
const packageEventPath = "/v1/packages"

// Delivery is how one Create Package Event went.
type Delivery struct {
	URL      string          `json:"url"`
	Status   int             `json:"status,omitempty"` // of the last try that got a reply
	Body     json.RawMessage `json:"body,omitempty"`   // its body: JSON as sent, else a JSON string
	Attempts []core.Attempt  `json:"attempts"`
	// Elapsed is how long the last try took; the platform wants an answer within 1 s.
	Elapsed  core.Duration     `json:"elapsed"`
	Problems []schemas.Problem `json:"problems,omitempty"` // a 2xx answer that is no pos.PackageAnswer

	failure string // why the event did not get through, "" when it did
}

// sendEvent posts the signed Create Package Event for ev to the partner, synchronously: the
// platform's webhook is synchronous too, the partner's answer is the point. Tries are made
// as webhooks' are (core.WebhookConfig).
func (p *Framework) sendEvent(ctx context.Context, ev pos.PackageEvent) Delivery {
	// Stop when the caller leaves or the sandbox closes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.rt.Context(), cancel)
	defer stop()

	body, _ := json.Marshal(ev) // plain strings: cannot fail
	header := p.signer.Header(body)
	header.Set("Content-Type", "application/json")
	d := Delivery{URL: p.cfg.PartnerURL + packageEventPath, Attempts: []core.Attempt{}}
	log := p.rt.Log.With(slog.String("package", ev.PackageID))
	hooks := p.rt.Hooks()
	cfg := hooks.Config()
	for try := 1; ; try++ {
		start := time.Now()
		status, answer, err := hooks.Post(ctx, d.URL, header, body)
		d.Elapsed = core.Duration(time.Since(start))
		a := core.Attempt{At: p.now(), Try: try, Status: status}
		if err != nil {
			a.Error = err.Error()
		} else {
			d.Status, d.Body = status, answerJSON(answer)
		}
		d.Attempts = append(d.Attempts, a)
		switch {
		case d.settled(ev, a, answer, err, log):
			return d
		case ctx.Err() != nil:
			d.failure = "delivery interrupted: " + ctx.Err().Error()
			return d
		case try >= cfg.Tries:
			d.failure = fmt.Sprintf("partner did not answer 2xx in %d tries: last %s", try, attemptText(a))
			log.Warn("pos package event failed", slog.Int("tries", try))
			return d
		}
		log.Info("pos package event try failed; will retry", slog.Int("try", try), slog.Duration("in", cfg.RetryInterval))
		if err := wait.For(ctx, cfg.RetryInterval); err != nil {
			d.failure = "delivery interrupted: " + err.Error()
			return d
		}
	}
}

// settled reports whether the partner's reply to try a settles the delivery: a 2xx (with
// the answer checked) or a 4xx; it records why the event did not get through, if it did not.
func (d *Delivery) settled(ev pos.PackageEvent, a core.Attempt, answer []byte, err error, log *slog.Logger) bool {
	switch core.TryOutcome(a.Status, err) {
	case core.OutcomeDelivered:
		if _, aerr := pos.ParsePackageAnswer(ev, answer); aerr != nil {
			d.Problems = schemas.Problems(aerr)
			if len(d.Problems) == 0 {
				d.Problems = []schemas.Problem{{Pointer: "", Message: aerr.Error()}}
			}
			d.failure = fmt.Sprintf("partner answered %d but not with a package answer: %s", a.Status, d.Problems[0])
			log.Warn("pos package event: bad answer", slog.Int("status", a.Status))
			return true
		}
		log.Info("pos package event delivered", slog.Int("status", a.Status), slog.Int("try", a.Try))
		return true
	case core.OutcomeDropped:
		d.failure = fmt.Sprintf("partner refused the event: %d (not retried)", a.Status)
		log.Warn("pos package event refused", slog.Int("status", a.Status))
		return true
	}
	return false
}

func attemptText(a core.Attempt) string {
	if a.Error != "" {
		return a.Error
	}
	return fmt.Sprintf("status %d", a.Status)
}

// answerJSON is the partner's answer as JSON: as sent when it is JSON, else as a string.
func answerJSON(b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if json.Valid(b) {
		var c bytes.Buffer
		if json.Compact(&c, b) == nil {
			return c.Bytes()
		}
	}
	s, _ := json.Marshal(string(b))
	return s
}

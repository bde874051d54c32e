package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/workflows"
)

// purchase is one Inbank payment a customer makes through a payment session.
type purchase struct {
	n        int
	ids      []string // every session id an attempt was answered with (one per key that got one)
	attempts int      // Idempotency-Keys used: a create Inbank refused on every try needs a new one
	result   workflows.PaymentStatus
	err      error
}

// paymentRequest is the payment session request of every purchase.
const paymentRequest = `{"shopUuid":"` + sandbox.DefaultInbankShopUUID + `","productCode":"smart_rent","currency":"EUR","locale":"et-EE",
  "purchase":{"description":"Appraisal fee"},"partnerUrls":{"returnUrl":"https://partner.example/ok","cancelUrl":"https://partner.example/cancel"},
  "rentalApplicationData":{"assets":[{"type":"MODEL_BASED","modelId":"m1","modelName":"Phone","netPrice":100}],"period":12}}`

// placePayments starts the purchases at an eighth of the order rate, handing each to add.
func (r *runner) placePayments(ctx context.Context, add func(*purchase)) error {
	if r.cfg.Payments <= 0 {
		return nil
	}
	err := pace(ctx, r.cfg.Payments, time.Duration(float64(8*time.Second)/r.cfg.Rate), func(i int) error {
		add(&purchase{n: i + 1})
		return nil
	})
	if err == nil {
		r.log.printf("all %d payment sessions asked for", r.cfg.Payments)
	}
	return err
}

// followPayment is the shop and its customer: create the payment session (asking again with
// the same Idempotency-Key when the answer is lost or the engine busy, with a new key when
// Inbank created nothing), have the customer pay, and wait for the session to end.
func (r *runner) followPayment(ctx context.Context, p *purchase) {
	backoff := 200 * time.Millisecond
	var created workflows.PaymentCreated
	p.attempts = 1
	for {
		key := fmt.Sprintf("chaos-purchase-%04d-%d", p.n, p.attempts)
		status, body, err := r.createPayment(ctx, key)
		if err == nil && (status == http.StatusCreated || status == http.StatusOK) {
			if err := json.Unmarshal(body, &created); err != nil {
				p.err = fmt.Errorf("payment session answer: %w", err)
				return
			}
			p.ids = append(p.ids, created.ID)
			break
		}
		switch {
		case err != nil, status == http.StatusConflict, status >= 500 && status != http.StatusBadGateway:
			// No answer, or not yet: the same key again.
		case status == http.StatusBadGateway:
			p.attempts++ // Inbank created nothing under this key: a new one
		default:
			p.err = fmt.Errorf("payment session create: %d %s", status, body)
			return
		}
		select {
		case <-ctx.Done():
			p.err = fmt.Errorf("payment session never created: %w", ctx.Err())
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
	// The customer pays; Inbank calls back (each callback delivered several times).
	if err := r.postControl(ctx, r.sandboxURL+"/sandbox/inbank/sessions/"+created.POSSessionUUID+"/complete", `{"callbacks":{"copies":2}}`); err != nil {
		p.err = fmt.Errorf("customer payment: %w", err)
		return
	}
	for {
		err := r.client.GetWorkflow(ctx, workflows.PaymentWorkflowID(created.ID), "").Get(ctx, &p.result)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			p.err = fmt.Errorf("payment session %s never ended: %w", created.ID, ctx.Err())
			return
		case <-time.After(time.Second):
		}
	}
}

func (r *runner) createPayment(ctx context.Context, key string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.apiURL+"/v1/payment-sessions", strings.NewReader(paymentRequest))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.operator.Token)
	req.Header.Set(api.IdempotencyKeyHeader, key)
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

func (r *runner) postControl(ctx context.Context, url, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}

// checkPayments reads Inbank's sessions from the sandbox: each purchase must be paid once,
// through one session, run by one workflow.
func (r *runner) checkPayments(ctx context.Context, ps []*purchase, rep *Report) error {
	rep.Payments = len(ps)
	var list []struct {
		UUID        string           `json:"uuid"`
		Status      pos.InbankStatus `json:"status"`
		CallbackURL string           `json:"callbackUrl"`
	}
	if err := r.getJSON(ctx, r.sandboxURL+"/sandbox/inbank/sessions", &list); err != nil {
		return fmt.Errorf("chaos: list Inbank sessions: %w", err)
	}
	for _, p := range ps {
		var problems []string
		switch {
		case p.err != nil:
			problems = append(problems, p.err.Error())
		case p.result.Status != pos.StatusCompleted:
			problems = append(problems, fmt.Sprintf("session ended %q", p.result.Status))
		default:
			rep.PaymentsCompleted++
		}
		rep.PaymentKeys += p.attempts
		paid := 0
		for _, s := range list {
			for _, id := range p.ids {
				if !strings.Contains(s.CallbackURL, id) {
					continue
				}
				if s.Status == pos.StatusCompleted {
					paid++
				} else {
					rep.UnusedInbankSessions++
				}
			}
		}
		if paid != 1 {
			if paid > 1 {
				rep.DuplicatedEffects += paid - 1
			}
			problems = append(problems, fmt.Sprintf("paid %d times at Inbank", paid))
		}
		for _, id := range p.ids {
			runs, err := r.countRuns(ctx, workflows.PaymentWorkflowID(id))
			if err != nil {
				return err
			}
			if runs != 1 {
				problems = append(problems, fmt.Sprintf("session %s: %d workflow runs", id, runs))
			}
		}
		for _, pr := range problems {
			rep.Deviations = append(rep.Deviations, fmt.Sprintf("payment %d: %s", p.n, pr))
		}
	}
	// Sessions of keys whose create failed are counted too: Inbank may have made one whose
	// reply was lost. Nobody is ever sent to them; they expire.
	for _, s := range list {
		if s.Status != pos.StatusCompleted && !r.knownPayment(ps, s.CallbackURL) {
			rep.UnusedInbankSessions++
		}
	}
	return nil
}

func (r *runner) knownPayment(ps []*purchase, callbackURL string) bool {
	for _, p := range ps {
		for _, id := range p.ids {
			if strings.Contains(callbackURL, id) {
				return true
			}
		}
	}
	return false
}

package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/workflows"
)

// Operator talks to epcflow's API as the partner's staff would.
type Operator struct {
	BaseURL string
	Token   string
	// Actor, when set, names who acts (api.ActorHeader): the workflow records it.
	Actor string
	HTTP  *http.Client
}

// NewOperator returns an Operator for the API at baseURL.
func NewOperator(baseURL, token string) *Operator {
	return &Operator{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

func (o *Operator) txURL(id string, tail string) string {
	return o.BaseURL + "/v1/transactions/" + url.PathEscape(id) + tail
}

// Status reads a transaction's live state.
func (o *Operator) Status(ctx context.Context, id string) (workflows.Status, error) {
	var st workflows.Status
	err := call(ctx, o.HTTP, http.MethodGet, o.txURL(id, ""), nil, &st, o.Token)
	return st, err
}

// Schedule records the inspection appointment.
func (o *Operator) Schedule(ctx context.Context, id string, at time.Time, appraiser string) (workflows.ActionResult, error) {
	var r workflows.ActionResult
	err := o.post(ctx, o.txURL(id, "/schedule"), map[string]any{"inspectionAt": at.UTC().Format(time.RFC3339), "appraiser": appraiser}, &r)
	return r, err
}

// Deliver uploads the report PDF with the appraised value.
func (o *Operator) Deliver(ctx context.Context, id string, pdf []byte, value int64) (workflows.ActionResult, error) {
	var r workflows.ActionResult
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("report", "AppraisalReport.pdf")
	if err != nil {
		return r, err
	}
	fw.Write(pdf)
	mw.WriteField("appraisedValue", fmt.Sprint(value))
	mw.WriteField("appraisalType", "Form 1004 appraisal with interior/exterior")
	if err := mw.Close(); err != nil {
		return r, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.txURL(id, "/deliver"), &buf)
	if err != nil {
		return r, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	o.authorize(req)
	return r, do(o.HTTP, req, &r)
}

// post sends a JSON action as the operator.
func (o *Operator) post(ctx context.Context, u string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	o.authorize(req)
	return do(o.HTTP, req, out)
}

// authorize adds the operator token and the actor.
func (o *Operator) authorize(req *http.Request) {
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	if o.Actor != "" {
		req.Header.Set(api.ActorHeader, o.Actor)
	}
}

// Progress posts a progress note to the lender.
func (o *Operator) Progress(ctx context.Context, id, text, comments string) (workflows.ActionResult, error) {
	var r workflows.ActionResult
	err := o.post(ctx, o.txURL(id, "/events"), map[string]any{"text": text, "comments": comments}, &r)
	return r, err
}

// WaitStage polls the transaction until it reaches one of the stages or ctx ends.
func (o *Operator) WaitStage(ctx context.Context, id string, stages ...string) (workflows.Status, error) {
	wait := 50 * time.Millisecond
	for {
		st, err := o.Status(ctx, id)
		if err == nil {
			for _, s := range stages {
				if st.Stage == s {
					return st, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("transaction %s did not reach %v (last stage %q, last error %v): %w", id, stages, st.Stage, err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
	}
}

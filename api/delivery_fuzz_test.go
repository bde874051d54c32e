package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// temporalMaxIDLength is the Temporal server's default limit.maxIDLength, in bytes: a longer
// workflow id is refused with InvalidArgument.
const temporalMaxIDLength = 1000

// startOnlyTemporal stands in for Temporal on POST /v1/packages, which only starts workflows.
// It refuses what the server would refuse and counts the starts of the request being served
// (each request runs in the fuzzing goroutine). Any other method panics through the nil
// embedded client, which fails the target.
type startOnlyTemporal struct {
	client.Client
	starts int
}

func (s *startOnlyTemporal) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	s.starts++
	if o.ID == "" || len(o.ID) > temporalMaxIDLength {
		return nil, serviceerror.NewInvalidArgument("WorkflowId length exceeds limit.")
	}
	if wf != workflows.PackageWorkflowName || len(args) != 1 {
		return nil, serviceerror.NewInvalidArgument("unexpected workflow start")
	}
	if _, err := json.Marshal(args[0]); err != nil { // what the payload converter does
		return nil, serviceerror.NewInvalidArgument("input does not encode: " + err.Error())
	}
	return nil, nil
}

const fuzzPackageEvent = `{"instanceId":"BE11140034","groupNamespace":"loans","groupId":"6a1e1c59-3c6b-4c1f-9b77-2f4f3b8f2f10","packageId":"pkg-8d2f7c",
"recipients":[{"recipientId":"rcp-1","firstName":"Alice","lastName":"Firstimer","email":"alice@example.com","role":"borrower"},
{"recipientId":"rcp-2","firstName":"Bob","lastName":"Firstimer","email":"BOB@example.com","role":"co-borrower"}]}`

// FuzzPackageEventHandler posts arbitrary bodies to POST /v1/packages through the real
// handler, with a real (in-memory SQLite) portal store and a Temporal that only starts
// workflows. A body signed by the platform is answered 200 or 400, never a 5xx (the platform
// would retry it for ever) nor a panic; a 400 points at every problem; a 200 is an answer the
// platform accepts for that event. sig, when not empty, replaces the signature: 401.
func FuzzPackageEventHandler(f *testing.F) {
	long := func(r string, n int) string { return strings.Repeat(r, n) }
	for _, s := range []string{
		fuzzPackageEvent,
		strings.Replace(fuzzPackageEvent, `"rcp-2"`, `"rcp-1"`, 1),
		`{"instanceId":"` + long("i", 256) + `","groupNamespace":"` + long("n", 256) + `","groupId":"` + long("g", 256) + `","packageId":"` + long("p", 256) +
			`","recipients":[{"recipientId":"` + long("r", 256) + `","firstName":"A","lastName":"B","email":"a@example.com","role":"borrower"}]}`,
		`{"instanceId":"i","groupNamespace":"n","groupId":"g","packageId":"` + long("é", 256) +
			`","recipients":[{"recipientId":"` + long("é", 256) + `","firstName":"A","lastName":"B","email":"a@example.com","role":"borrower"}]}`,
		`{"instanceId":"a/b","groupNamespace":"%2F","groupId":"?#","packageId":"..","recipients":[{"recipientId":"../x","firstName":"<b>","lastName":"&amp;","email":"\"q\"@example.com","role":"borrower"}]}`,
		`{"instanceId":"i","groupNamespace":"n","groupId":"g","packageId":"p","recipients":[null,1,"x",{}]}`,
		`{"instanceId":"\u0000","recipients":[]}`,
		`{"recipients":{}}`, `{}`, `[]`, `null`, ``, `{"a":1} {}`, "\xff\xfe{}",
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(fuzzPackageEvent), "bm90IGEgc2lnbmF0dXJl")
	f.Add([]byte(`{}`), "%%%")

	store, signer := deliveryParts(f, "fuzz-secret")
	temporal := &startOnlyTemporal{}
	// A panic would be recovered as a 500, which fails the target.
	engine := directAPI(f, &fakeEngine{}, func(c *Config) {
		c.Delivery = &Delivery{
			Verifier: signer.Verifier(), Portal: store, Engine: starter.New(temporal), Secret: portal.RandomSecret(),
			PortalBaseURL: "https://partner.example", DeliveryRoom: &pos.DeliveryRoomClient{BaseURL: "http://127.0.0.1:1", Signer: signer},
		}
	})

	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		req := httptest.NewRequest(http.MethodPost, PackagesPath, bytes.NewReader(body))
		signer.Sign(req, body)
		forged := sig != "" && sig != req.Header.Get(pos.HeaderSignature)
		if forged {
			req.Header.Set(pos.HeaderSignature, sig)
		}
		temporal.starts = 0
		rec := httptest.NewRecorder()
		engine.ServeHTTP(rec, req)

		var answer ErrorBody
		if rec.Code >= 400 {
			answer = decodeErrorBody(t, rec.Code, rec.Body.Bytes())
		} else if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d: answer is not JSON: %q", rec.Code, rec.Body)
		}
		switch {
		case forged:
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("forged signature %q: status %d: %s", sig, rec.Code, rec.Body)
			}
		case rec.Code == http.StatusBadRequest:
			if len(answer.Problems) == 0 {
				t.Fatalf("400 without problems: %s", rec.Body)
			}
			for _, p := range answer.Problems {
				if p.Pointer != "" && !strings.HasPrefix(p.Pointer, "/") || p.Message == "" {
					t.Fatalf("malformed problem %+v", p)
				}
			}
			if _, err := pos.ParsePackageEvent(body); err == nil {
				t.Fatalf("a valid event was answered 400: %s", rec.Body)
			}
		case rec.Code == http.StatusOK:
			ev, err := pos.ParsePackageEvent(body)
			if err != nil {
				t.Fatalf("an invalid event was answered 200: %v", err)
			}
			// A resend gets the answer stored for the first event of its key; only a first
			// answer is about this very body.
			if temporal.starts > 0 {
				if _, err := pos.ParsePackageAnswer(ev, rec.Body.Bytes()); err != nil {
					t.Fatalf("the platform would refuse our answer: %v", err)
				}
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

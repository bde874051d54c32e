package epcemu

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

// seed002Order is a control-API order built from seed 002's request, plus one attachment.
func seed002Order(t *testing.T) map[string]any {
	t.Helper()
	var seed struct {
		Request map[string]any `json:"request"`
	}
	testkit.FixtureJSON(t, seed002, &seed)
	seed.Request["resources"] = []map[string]any{{
		"name":     "PurchaseContract.pdf",
		"mimeType": "application/pdf",
		"content":  base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 contract")),
	}}
	return map[string]any{"request": seed.Request}
}

// TestClientAgainstSandbox drives every Partner API endpoint with the epc client over real
// HTTP, the way a partner does.
func TestClientAgainstSandbox(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.Order(seed002Order(t))

	// Transaction and request, shaped like seed 002.
	tx, err := e.Client.GetTransaction(ctx, id)
	if err != nil {
		t.Fatalf("GetTransaction: %v", err)
	}
	if tx.ID != id || tx.Status != epc.TransactionPending || tx.ClientID != DefaultLenderClientID {
		t.Errorf("transaction = id %s status %s clientId %s", tx.ID, tx.Status, tx.ClientID)
	}
	if tx.Product == nil || tx.Product.Name != DefaultProduct || tx.Product.ID == "" {
		t.Errorf("product = %+v", tx.Product)
	}
	if tx.Request == nil || tx.Request.Type != "Appraisal" || tx.Request.Credentials == nil ||
		tx.Request.Credentials.Username != "donaldd" || tx.Request.Credentials.Password != "p@s$w0rd" {
		t.Errorf("request lacks type or credentials: %+v", tx.Request)
	}
	if tx.EntityRef == nil || !strings.HasPrefix(tx.EntityRef.EntityID, "urn:elli:encompass:BE11172718:loan:") {
		t.Errorf("entityRef = %+v", tx.EntityRef)
	}
	if got := sbtest.EventTypes(tx.Events); !slices.Equal(got, []string{epc.EventRequestCreated}) {
		t.Errorf("events = %v, want the request:created event", got)
	}
	req, err := e.Client.GetRequest(ctx, id)
	if err != nil {
		t.Fatalf("GetRequest: %v", err)
	}
	var loan map[string]any
	if err := json.Unmarshal(req.Loan, &loan); err != nil || loan["loanNumber"] != "1911EM000412515" {
		t.Errorf("request loan = %s (%v)", req.Loan, err)
	}

	// Lender attachments: listed without content, downloadable with the bearer token.
	atts, err := e.Client.ListRequestResources(ctx, id)
	if err != nil {
		t.Fatalf("ListRequestResources: %v", err)
	}
	if len(atts) != 1 || atts[0].Name != "PurchaseContract.pdf" || atts[0].MimeType != "application/pdf" ||
		!strings.HasPrefix(atts[0].URL, e.URL+"/sandbox/media/") {
		t.Fatalf("attachments = %+v", atts)
	}
	if rep := e.Do(http.MethodGet, atts[0].URL, nil); rep.Status != http.StatusUnauthorized {
		t.Errorf("attachment without a token: %d, want 401", rep.Status)
	}
	if rep := e.Partner(http.MethodGet, atts[0].URL, nil); rep.Status != http.StatusOK ||
		string(rep.Body) != "%PDF-1.4 contract" || rep.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("download attachment: %d %q %s", rep.Status, rep.Body, rep.Header.Get("Content-Type"))
	}

	// Acknowledge.
	if err := e.Client.PatchResponse(ctx, id, &epc.Response{Status: epc.StatusProcessing, ReferenceNumber: "REF-1"}); err != nil {
		t.Fatalf("PatchResponse processing: %v", err)
	}

	// Events: create, read one, list.
	created, err := e.Client.CreateEvent(ctx, id, epc.NewEvent{
		Text: "Inspection Scheduled", Type: "urn:elli:epc:partner:appraisal:scheduled",
		Comments: "Appraisal appointment scheduled for 02/14 at 16:00 PST",
	})
	if err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	if created.ID == "" || created.From != DefaultProduct || created.Sent == nil {
		t.Errorf("created event = %+v", created)
	}
	got, err := e.Client.GetEvent(ctx, id, created.ID)
	if err != nil || got.Text != "Inspection Scheduled" || got.Comments != created.Comments {
		t.Errorf("GetEvent = %+v, %v", got, err)
	}
	if _, err := e.Client.GetEvent(ctx, id, "no-such-event"); epc.StatusOf(err) != http.StatusNotFound {
		t.Errorf("GetEvent(unknown) = %v, want 404", err)
	}

	// Three-step upload, then attach and complete.
	report := []byte("%PDF-1.4 appraisal report")
	res, err := e.Client.UploadResource(ctx, id, "AppraisalReport.pdf", "application/pdf", report)
	if err != nil {
		t.Fatalf("UploadResource: %v", err)
	}
	if err := e.Client.PatchResponse(ctx, id, &epc.Response{
		Status: epc.StatusCompleted, PartnerStatus: "Appraisal Report Delivered",
		Resources: []epc.Resource{res},
	}); err != nil {
		t.Fatalf("PatchResponse completed: %v", err)
	}
	evs, err := e.Client.ListEvents(ctx, id)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	want := []string{epc.EventRequestCreated, epc.EventResponseUpdated, "urn:elli:epc:partner:appraisal:scheduled", epc.EventResponseUpdated}
	if got := sbtest.EventTypes(evs); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	last := evs[3]
	if len(last.Resources) != 1 || last.Resources[0].ID != res.ID ||
		!strings.HasPrefix(last.Resources[0].Authorization, "elli-signature ") || last.Resources[0].Location == "" {
		t.Errorf("response:updated resources = %+v", last.Resources)
	}
	// The attached file is downloadable with the grant the event carries.
	if rep := e.Do(http.MethodGet, last.Resources[0].Location, nil, "Authorization", last.Resources[0].Authorization); rep.Status != 200 || string(rep.Body) != string(report) {
		t.Errorf("download uploaded file: %d %q", rep.Status, rep.Body)
	}

	tx, err = e.Client.GetTransaction(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Status != epc.TransactionCompleted || tx.Response == nil || tx.Response.Status != epc.StatusCompleted ||
		tx.Response.ReferenceNumber != "REF-1" || tx.Response.PartnerStatus != "Appraisal Report Delivered" {
		t.Errorf("after completion: status %s response %+v", tx.Status, tx.Response)
	}

	// What the lender sees.
	v := e.Control(id)
	if len(v.ResponseHistory) != 2 {
		t.Errorf("responseHistory has %d entries, want 2", len(v.ResponseHistory))
	}
	sum := sha256.Sum256(report)
	if len(v.Resources) != 1 || v.Resources[0].SHA256 != hex.EncodeToString(sum[:]) || v.Resources[0].Size != len(report) ||
		!v.Resources[0].Uploaded || !v.Resources[0].Attached || v.Resources[0].Uploads != 1 {
		t.Errorf("resources = %+v", v.Resources)
	}
	paths := map[string]bool{}
	for _, c := range v.PartnerCalls {
		paths[c.Method+" "+c.Path] = true
	}
	for _, want := range []string{
		"GET /partner/v2/transactions/" + id,
		"GET /partner/v2/transactions/" + id + "/request",
		"GET /partner/v2/transactions/" + id + "/request/resources",
		"PATCH /partner/v2/transactions/" + id + "/response",
		"POST /partner/v2/transactions/" + id + "/events",
		"POST /partner/v2/transactions/" + id + "/response/resources",
		"PUT /sandbox/media/" + res.ID,
	} {
		if !paths[want] {
			t.Errorf("partnerCalls lacks %s", want)
		}
	}
}

// TestTransactionShapeMatchesSeed002: every member seed 002 shows is in the sandbox's JSON.
func TestTransactionShapeMatchesSeed002(t *testing.T) {
	e := newEnv(t)
	id := e.Order(seed002Order(t))
	if rep := e.Partner(http.MethodPatch, "/partner/v2/transactions/"+id+"/response", map[string]any{"status": "processing"}); rep.Status != 204 {
		t.Fatalf("patch: %d %s", rep.Status, rep.Body)
	}
	rep := e.Partner(http.MethodGet, "/partner/v2/transactions/"+id, nil)
	var got, seed map[string]any
	rep.JSON(t, &got)
	testkit.FixtureJSON(t, seed002, &seed)
	for _, obj := range []string{"", "entityRef", "product", "request"} {
		s, g := seed, got
		if obj != "" {
			s, _ = seed[obj].(map[string]any)
			g, _ = got[obj].(map[string]any)
		}
		for k := range s {
			if _, ok := g[k]; !ok {
				t.Errorf("%s/%s missing from the sandbox's transaction", obj, k)
			}
		}
	}
	if got["environment"] != "sandbox" || got["orderType"] != "MANUAL" {
		t.Errorf("environment %v orderType %v", got["environment"], got["orderType"])
	}
}

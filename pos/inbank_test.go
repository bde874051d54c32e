package pos_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

const ibKey = "inbank-secret-key-for-tests"

// fakeInbank answers every call with status and body, counting calls and keeping the last.
type fakeInbank struct {
	srv    *httptest.Server
	calls  atomic.Int32
	last   atomic.Pointer[http.Request]
	body   atomic.Pointer[[]byte]
	status int
	reply  string
}

func newFakeInbank(t *testing.T, status int, reply string) *fakeInbank {
	f := &fakeInbank{status: status, reply: reply}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		f.last.Store(r.Clone(context.Background()))
		f.body.Store(&b)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.reply)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func ibMinimalRequest(t *testing.T) pos.InbankSessionRequest {
	t.Helper()
	req, err := pos.ParseSessionRequest(testkit.Fixture(t, "pos/testdata/inbank-session-minimal.json"))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestCreateSessionSendsValidBody(t *testing.T) {
	f := newFakeInbank(t, http.StatusCreated,
		`{"uuid":"5e3a459a-aada-4d81-b6ad-09cb9483c8bf","status":"pending","redirectUrl":"https://demo-epos.inbank.ee/session/5e3a459a-aada-4d81-b6ad-09cb9483c8bf"}`)
	c := &pos.InbankClient{BaseURL: f.srv.URL + "/", APIKey: ibKey}
	got, err := c.CreateSession(context.Background(), testkit.InbankShop, ibMinimalRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	want := pos.InbankSessionCreated{UUID: "5e3a459a-aada-4d81-b6ad-09cb9483c8bf", Status: pos.StatusPending,
		RedirectURL: "https://demo-epos.inbank.ee/session/5e3a459a-aada-4d81-b6ad-09cb9483c8bf"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	r := f.last.Load()
	if r.Method != http.MethodPost || r.URL.Path != "/partner/v3/shops/"+testkit.InbankShop+"/pos-sessions" {
		t.Errorf("called %s %s", r.Method, r.URL.Path)
	}
	if r.Header.Get("Authorization") != "Bearer "+ibKey || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.Header)
	}
	if err := pos.ValidateSessionRequest(*f.body.Load()); err != nil {
		t.Errorf("sent an invalid body: %v", err)
	}
}

func TestCreateSessionValidatesBeforeCalling(t *testing.T) {
	f := newFakeInbank(t, http.StatusCreated, `{}`)
	c := &pos.InbankClient{BaseURL: f.srv.URL, APIKey: ibKey}
	req := ibMinimalRequest(t)
	req.Currency = "eur"
	req.RentalApplication.Assets[0].Type = pos.AssetCategoryBased
	req.PartnerURLs = &pos.InbankPartnerURLs{ReturnURL: "https://shop.example/return"}
	_, err := c.CreateSession(context.Background(), testkit.InbankShop, req)
	want := []schemas.Problem{
		{Pointer: "/currency", Message: "must be an uppercase ISO 4217 currency code"},
		{Pointer: "/currency", Message: `must be one of "EUR"`},
		{Pointer: "/partnerUrls", Message: `missing property "cancelUrl"`},
		{Pointer: "/rentalApplicationData/assets/0/type", Message: "the hero device (first asset) must be MODEL_BASED"},
	}
	if got := schemas.Problems(err); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("problems:\n got %v\nwant %v", got, want)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d calls made with an invalid body", n)
	}
	// Raw bodies go through the same validation.
	if _, err := c.CreateSessionJSON(context.Background(), testkit.InbankShop, []byte(`{"productCode":"x"}`)); !errors.Is(err, schemas.ErrInvalid) {
		t.Errorf("CreateSessionJSON: %v", err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d calls made with an invalid body", n)
	}
}

func TestInbankClientArguments(t *testing.T) {
	f := newFakeInbank(t, http.StatusOK, `{}`)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		c    pos.InbankClient
		shop string
		want string
	}{
		{"no key", pos.InbankClient{BaseURL: f.srv.URL}, testkit.InbankShop, "APIKey required"},
		{"relative base", pos.InbankClient{BaseURL: "/api", APIKey: ibKey}, testkit.InbankShop, "BaseURL"},
		{"shop not a uuid", pos.InbankClient{BaseURL: f.srv.URL, APIKey: ibKey}, "../admin", "shop uuid"},
	} {
		_, err := tc.c.CreateSession(ctx, tc.shop, ibMinimalRequest(t))
		if !errors.Is(err, pos.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CreateSession: %v", tc.name, err)
		}
		_, err = tc.c.GetSession(ctx, tc.shop, "5e3a459a-aada-4d81-b6ad-09cb9483c8bf")
		if !errors.Is(err, pos.ErrInvalidArgument) {
			t.Errorf("%s: GetSession: %v", tc.name, err)
		}
	}
	c := pos.InbankClient{BaseURL: f.srv.URL, APIKey: ibKey}
	if _, err := c.GetSession(ctx, testkit.InbankShop, "x/../y"); !errors.Is(err, pos.ErrInvalidArgument) {
		t.Errorf("GetSession with a bad session uuid: %v", err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d calls made with bad arguments", n)
	}
}

func TestInbankErrors(t *testing.T) {
	for _, tc := range []struct {
		status  int
		reply   string
		want    error
		message string
	}{
		{401, `{"message":"unauthorized"}`, pos.ErrUnauthorized, "unauthorized"},
		{403, `{"message":"User is not authorized to access this resource with an explicit deny"}`, pos.ErrForbidden,
			"User is not authorized to access this resource with an explicit deny"},
		{404, `{"message":"not_found"}`, pos.ErrNotFound, "not_found"},
		{500, `{"message":"internal_server_error"}`, pos.ErrInternal, "internal_server_error"},
		{502, `<html>bad gateway</html>`, pos.ErrInternal, ""},
		{400, `{"message":"validation_failed","details":[{"pointer":"/currency","message":"must be one of \"EUR\""}]}`, pos.ErrBadRequest, "validation_failed"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			f := newFakeInbank(t, tc.status, tc.reply)
			c := &pos.InbankClient{BaseURL: f.srv.URL, APIKey: ibKey}
			for op, call := range map[string]func() error{
				"create session": func() error {
					_, err := c.CreateSession(context.Background(), testkit.InbankShop, ibMinimalRequest(t))
					return err
				},
				"get session": func() error {
					_, err := c.GetSession(context.Background(), testkit.InbankShop, "5e3a459a-aada-4d81-b6ad-09cb9483c8bf")
					return err
				},
			} {
				err := call()
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: %v is not %v", op, err, tc.want)
				}
				var ie *pos.InbankError
				if !errors.As(err, &ie) || ie.Status != tc.status || ie.Message != tc.message || ie.Op != op {
					t.Fatalf("%s: %#v", op, ie)
				}
				for _, other := range []error{pos.ErrUnauthorized, pos.ErrForbidden, pos.ErrNotFound, pos.ErrInternal, pos.ErrBadRequest} {
					if other != tc.want && errors.Is(err, other) {
						t.Errorf("%s: %v also matches %v", op, err, other)
					}
				}
				if ie.Temporary() != (tc.status >= 500) {
					t.Errorf("%s: Temporary() = %v", op, ie.Temporary())
				}
				if strings.Contains(err.Error(), ibKey) {
					t.Errorf("%s: error leaks the API key: %v", op, err)
				}
			}
			if tc.status == 400 {
				_, err := c.GetSession(context.Background(), testkit.InbankShop, "5e3a459a-aada-4d81-b6ad-09cb9483c8bf")
				var ie *pos.InbankError
				errors.As(err, &ie)
				if len(ie.Problems) != 1 || ie.Problems[0].Pointer != "/currency" {
					t.Errorf("400 details not kept: %+v", ie.Problems)
				}
			}
		})
	}
}

func TestGetSessionReply(t *testing.T) {
	f := newFakeInbank(t, http.StatusOK, `{"uuid":"5e3a459a-aada-4d81-b6ad-09cb9483c8bf","status":"completed",`+
		`"creditApplicationUuid":"11111111-1111-4111-8111-111111111111","creditContractUuid":"22222222-2222-4222-8222-222222222222",`+
		`"validUntil":"2021-02-17T11:10:00+02:00","somethingNew":1}`)
	c := &pos.InbankClient{BaseURL: f.srv.URL, APIKey: ibKey}
	got, err := c.GetSession(context.Background(), testkit.InbankShop, "5e3a459a-aada-4d81-b6ad-09cb9483c8bf")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != pos.StatusCompleted || !got.Status.IsFinal() || got.CreditContractUUID != "22222222-2222-4222-8222-222222222222" ||
		got.CreditApplicationUUID != "11111111-1111-4111-8111-111111111111" ||
		!got.ValidUntil.Equal(time.Date(2021, 2, 17, 9, 10, 0, 0, time.UTC)) {
		t.Errorf("got %+v", got)
	}
	if r := f.last.Load(); r.Method != http.MethodGet || r.URL.Path != "/partner/v3/shops/"+testkit.InbankShop+"/pos-sessions/5e3a459a-aada-4d81-b6ad-09cb9483c8bf" {
		t.Errorf("called %s %s", r.Method, r.URL.Path)
	}
	if _, err := c.GetSession(context.Background(), testkit.InbankShop, "6e3a459a-aada-4d81-b6ad-09cb9483c8bf"); err == nil ||
		!strings.Contains(err.Error(), "another session") {
		t.Errorf("a reply about another session: %v", err)
	}
}

func TestInbankClientHidesKey(t *testing.T) {
	f := newFakeInbank(t, http.StatusUnauthorized, `{"message":"unauthorized"}`)
	var logs testkit.Logs
	c := &pos.InbankClient{BaseURL: f.srv.URL, APIKey: ibKey, Logger: logs.Text()}
	_, err := c.GetSession(context.Background(), testkit.InbankShop, "5e3a459a-aada-4d81-b6ad-09cb9483c8bf")
	c.Logger.Info("client", "client", c, "value", *c)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v", c, c, c, *c, *c, err) + logs.String()
	if strings.Contains(out, ibKey) {
		t.Errorf("API key leaked: %s", out)
	}
	if !strings.Contains(logs.String(), "inbank call") || !strings.Contains(logs.String(), "status=401") {
		t.Errorf("no debug line for the call: %s", logs.String())
	}
}

// TestGetSessionRetriesReads: a read that fails in a way that may pass is tried again; a
// 4xx is final, and the create is never repeated (a lost reply would make a second session).
func TestGetSessionRetriesReads(t *testing.T) {
	const id = "5e3a459a-aada-4d81-b6ad-09cb9483c8bf"
	session := `{"uuid":"` + id + `","status":"pending"}`
	for _, tc := range []struct {
		name      string
		statuses  []int // in turn; the last repeats
		create    bool
		wantCalls int
		wantErr   bool
	}{
		{"503, 502, then 200", []int{503, 502, 200}, false, 3, false},
		{"429 then 200", []int{429, 200}, false, 2, false},
		{"5xx every time", []int{500}, false, 4, true},
		{"404 is final", []int{404, 200}, false, 1, true},
		{"create: 503 is not repeated", []int{503, 201}, true, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				status := tc.statuses[min(n, len(tc.statuses)-1)]
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				if status/100 == 2 {
					io.WriteString(w, session)
				} else {
					io.WriteString(w, `{"message":"try later"}`)
				}
			}))
			defer srv.Close()
			c := &pos.InbankClient{BaseURL: srv.URL, APIKey: ibKey, ReadBackoff: time.Millisecond}
			var err error
			if tc.create {
				_, err = c.CreateSession(context.Background(), testkit.InbankShop, ibMinimalRequest(t))
			} else {
				_, err = c.GetSession(context.Background(), testkit.InbankShop, id)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got := int(calls.Load()); got != tc.wantCalls {
				t.Fatalf("%d calls, want %d", got, tc.wantCalls)
			}
		})
	}
}

// TestIsUUID: the 36-character text form only, any version, either case.
func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"5e3a459a-aada-4d81-b6ad-09cb9483c8bf":          true,
		"5E3A459A-AADA-4D81-B6AD-09CB9483C8BF":          true,
		"00000000-0000-0000-0000-000000000000":          true,
		"5e3a459a-aada-1d81-f6ad-09cb9483c8bf":          true, // any version and variant
		"":                                              false,
		"5e3a459aaada4d81b6ad09cb9483c8bf":              false,
		"{5e3a459a-aada-4d81-b6ad-09cb9483c8bf}":        false,
		"urn:uuid:5e3a459a-aada-4d81-b6ad-09cb9483c8bf": false,
		"5e3a459a-aada-4d81-b6ad-09cb9483c8b":           false,
		"5e3a459a-aada-4d81-b6ad-09cb9483c8bfa":         false,
		"5e3a459a_aada-4d81-b6ad-09cb9483c8bf":          false,
		"5e3a459a-aada-4d81-b6ad-09cb9483c8bg":          false,
		"5e3a459a-aada-4d81-b6ad0-9cb9483c8bf":          false,
		" 5e3a459a-aada-4d81-b6ad-09cb9483c8b":          false,
	} {
		if got := pos.IsUUID(s); got != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
}

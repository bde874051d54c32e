package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/starter"
)

// stateChangingRoute is a POST an operator (or a payment client) makes, with a body the
// route takes.
type stateChangingRoute struct {
	path, body string
	ok         int
}

func stateChangingRoutes(t *testing.T) []stateChangingRoute {
	raw, err := os.ReadFile(filepath.Join("..", "pos", "testdata", "inbank-session-minimal.json"))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	doc["shopUuid"] = fuzzShopUUID
	doc["partnerUrls"] = map[string]any{"returnUrl": "https://shop.test/return", "cancelUrl": "https://shop.test/cancel"}
	payment, err := json.Marshal(doc)
	require.NoError(t, err)
	tx := "/v1/transactions/" + txID
	return []stateChangingRoute{
		{tx + "/schedule", `{"inspectionAt":"2026-07-01T14:00:00Z"}`, http.StatusOK},
		{tx + "/events", `{"text":"Inspection done"}`, http.StatusOK},
		{tx + "/deliver", `{"appraisedValue":1,"reportBase64":"` + base64.StdEncoding.EncodeToString(testPDF) + `"}`, http.StatusOK},
		{PaymentSessionsPath, string(payment), http.StatusCreated},
	}
}

// operatorAPI serves every operator and payment route (operator token "t"), its engines
// faked.
func operatorAPI(t *testing.T) (http.Handler, *fakeEngine) {
	eng := &fakeEngine{status: awaitingReport}
	h := directAPI(t, eng, func(c *Config) {
		c.Payments = &Payments{Engine: starter.New(&fakeTemporal{}), APIKey: fuzzAPIKey, CallbackBaseURL: fuzzBaseURL}
	})
	return h, eng
}

func post(h http.Handler, path, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Host = "api.example"
	req.Header.Set("Authorization", "Bearer t")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestStateChangingRoutesTakeOnlyJSON: what an HTML form can send without the browser asking
// first (no Content-Type, text/plain, a urlencoded or multipart form where the route takes
// JSON) is refused with 415 and the one error body, before anything is read or done.
func TestStateChangingRoutesTakeOnlyJSON(t *testing.T) {
	for _, r := range stateChangingRoutes(t) {
		for _, ctype := range []string{"", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp", "json"} {
			if ctype == "multipart/form-data; boundary=x" && strings.HasSuffix(r.path, "/deliver") {
				continue // the delivery takes a form; a broken one is a 400 (TestDeliverFormQuirks)
			}
			h, eng := operatorAPI(t)
			rec := post(h, r.path, r.body, map[string]string{"Content-Type": ctype})
			require.Equal(t, http.StatusUnsupportedMediaType, rec.Code, "%s with Content-Type %q: %s", r.path, ctype, rec.Body)
			require.Equal(t, CodeUnsupportedMediaType, decodeErrorBody(t, rec.Code, rec.Body.Bytes()).Code)
			require.Zero(t, eng.calls(), "%s with Content-Type %q reached the engine", r.path, ctype)
		}
		h, _ := operatorAPI(t)
		rec := post(h, r.path, r.body, map[string]string{"Content-Type": "application/json; charset=utf-8"})
		require.Equal(t, r.ok, rec.Code, "%s as JSON: %s", r.path, rec.Body)
	}
}

// TestStateChangingRoutesRefuseOtherOrigins: a browser's request from another origin is
// refused with 403 before the token is even looked at; the API's own origin, a browser
// navigation and callers that are not browsers (no Origin, no Sec-Fetch-Site) get through;
// reads are safe from anywhere.
func TestStateChangingRoutesRefuseOtherOrigins(t *testing.T) {
	refused := []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "https://portal.api.example"},
		{"Origin": "https://evil.example"}, // an older browser: Origin only
		{"Origin": "null"},                 // a sandboxed frame or a file: page
	}
	allowed := []map[string]string{
		nil, // curl, the CLI, a server
		{"Sec-Fetch-Site": "same-origin", "Origin": "https://api.example"},
		{"Origin": "https://api.example"},
		{"Sec-Fetch-Site": "none"}, // typed by the user
	}
	for _, r := range stateChangingRoutes(t) {
		for _, hdr := range refused {
			h, eng := operatorAPI(t)
			all := map[string]string{"Content-Type": "application/json", "Authorization": ""}
			for k, v := range hdr {
				all[k] = v
			}
			rec := post(h, r.path, r.body, all)
			require.Equal(t, http.StatusForbidden, rec.Code, "%s with %v: %s", r.path, hdr, rec.Body)
			require.Equal(t, CodeForbidden, decodeErrorBody(t, rec.Code, rec.Body.Bytes()).Code)
			require.Zero(t, eng.calls())
		}
		for _, hdr := range allowed {
			h, _ := operatorAPI(t)
			all := map[string]string{"Content-Type": "application/json"}
			for k, v := range hdr {
				all[k] = v
			}
			rec := post(h, r.path, r.body, all)
			require.Equal(t, r.ok, rec.Code, "%s with %v: %s", r.path, hdr, rec.Body)
		}
	}
	h, _ := operatorAPI(t)
	req := httptest.NewRequest(http.MethodGet, "/v1/transactions/"+txID, nil)
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, "a read: %s", rec.Body)
}

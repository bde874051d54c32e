package api

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/epcflow/epcflow/starter"
)

// fakeConsole answers the console's reads from what a test set, and records the filters.
type fakeConsole struct {
	mu       sync.Mutex
	filters  []starter.OrderFilter
	rows     func(f starter.OrderFilter) []starter.OrderRow
	count    func(f starter.OrderFilter) int64
	history  starter.OrderHistory
	err      error
	packages []starter.PackageRow
	payments []starter.PaymentRow
}

func (f *fakeConsole) Orders(_ context.Context, flt starter.OrderFilter, size int, _ []byte) (starter.OrderPage, error) {
	if _, err := flt.Query(); err != nil {
		return starter.OrderPage{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, flt)
	if f.err != nil || f.rows == nil {
		return starter.OrderPage{}, f.err
	}
	rows := f.rows(flt)
	if len(rows) > size {
		rows = rows[:size]
	}
	return starter.OrderPage{Rows: rows}, nil
}

func (f *fakeConsole) CountOrders(_ context.Context, flt starter.OrderFilter) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	if f.count != nil {
		return f.count(flt), nil
	}
	if f.rows != nil {
		return int64(len(f.rows(flt))), nil
	}
	return 0, nil
}

func (f *fakeConsole) Order(_ context.Context, id string) (starter.OrderHistory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return starter.OrderHistory{}, f.err
	}
	h := f.history
	if h.WorkflowID == "" {
		h.WorkflowID, h.RunID, h.Status = "epc-transaction-"+id, "run-1", "Running"
	}
	return h, nil
}

func (f *fakeConsole) Packages(context.Context, int, []byte) ([]starter.PackageRow, []byte, error) {
	return f.packages, nil, f.err
}

func (f *fakeConsole) Payments(context.Context, int, []byte) ([]starter.PaymentRow, []byte, error) {
	return f.payments, nil, f.err
}

func (f *fakeConsole) seen() []starter.OrderFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]starter.OrderFilter(nil), f.filters...)
}

// consoleAPI is the API with its console, an operator's browser (a cookie jar; redirects
// shown, not followed) and the fakes behind it.
type consoleAPI struct {
	*testAPI
	con     *fakeConsole
	browser *http.Client
}

const consoleToken = "operator-token-for-tests"

func newConsoleAPI(t testing.TB, opts ...func(*Config)) *consoleAPI {
	t.Helper()
	con := &fakeConsole{}
	a := newTestAPI(t, append([]func(*Config){func(c *Config) {
		c.OperatorToken = consoleToken
		c.Console = &Console{Engine: con, TemporalUIURL: "http://ui.example:8233/"}
	}}, opts...)...)
	return &consoleAPI{testAPI: a, con: con, browser: newBrowser(t)}
}

func newBrowser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// page is a console answer.
type page struct {
	status int
	header http.Header
	body   string
}

// get fetches path with the browser.
func (a *consoleAPI) get(t testing.TB, b *http.Client, path string) page {
	t.Helper()
	return a.send(t, b, http.MethodGet, path, nil, nil)
}

// post sends a form as the browser does (same origin).
func (a *consoleAPI) post(t testing.TB, b *http.Client, path string, form url.Values) page {
	t.Helper()
	return a.send(t, b, http.MethodPost, path, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": a.srv.URL})
}

func (a *consoleAPI) send(t testing.TB, b *http.Client, method, path string, body io.Reader, header map[string]string) page {
	t.Helper()
	as := *a.testAPI
	as.client = b
	r := as.do(t, method, path, body, header)
	return page{status: r.status, header: r.header, body: string(r.body)}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// csrf is the CSRF token of a page's first form.
func csrf(t testing.TB, p page) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field on the page (%d):\n%s", p.status, p.body)
	}
	return m[1]
}

// signIn signs b in as name with token, and returns the answer to the form.
func (a *consoleAPI) signIn(t testing.TB, b *http.Client, name, token string) page {
	t.Helper()
	form := a.get(t, b, ConsolePath+"signin")
	return a.post(t, b, ConsolePath+"signin", url.Values{"csrf": {csrf(t, form)}, "name": {name}, "token": {token}, "next": {ConsolePath}})
}

// signedIn is a browser signed in as name.
func (a *consoleAPI) signedIn(t testing.TB, name string) *http.Client {
	t.Helper()
	b := newBrowser(t)
	if p := a.signIn(t, b, name, consoleToken); p.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", p.status, p.body)
	}
	return b
}

// sessionCookie is the browser's console session cookie ("" when none).
func (a *consoleAPI) sessionCookie(b *http.Client) string {
	u, _ := url.Parse(a.srv.URL + ConsolePath)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == consoleCookie {
			return c.Value
		}
	}
	return ""
}

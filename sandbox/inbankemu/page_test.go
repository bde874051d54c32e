package inbankemu

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestInbankPage(t *testing.T) {
	e := newEnv(t, nil)
	created := e.create(time.Hour)
	client := e.TS.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(created.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(page), "iPhone 15 with a case, 24 months") || !strings.Contains(string(page), `<strong id="status">pending</strong>`) ||
		!strings.Contains(string(page), `value="complete"`) {
		t.Fatalf("page: %d %s", resp.StatusCode, page)
	}
	// submit posts the page's form: the reply's status and where it sends the browser.
	submit := func(page, action string) (int, string) {
		t.Helper()
		resp, err := client.PostForm(page, url.Values{"action": {action}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	if status, to := submit(created.RedirectURL, "complete"); status != http.StatusSeeOther || to != "https://shop.example/return" {
		t.Errorf("sign: %d to %q", status, to)
	}
	// Both callbacks leave at once: they may arrive in either order, as Inbank's may.
	got := map[string]bool{}
	for range 2 {
		cb := e.shop.Next(nil)
		e.verify(cb, created.UUID, decode(cb).Status)
		got[decode(cb).Status] = true
	}
	if !got["granted"] || !got["completed"] {
		t.Errorf("callbacks %v, want granted and completed", got)
	}
	if status, _ := submit(created.RedirectURL, "cancel"); status != http.StatusConflict {
		t.Errorf("cancel after completion: %d", status)
	}

	cancelled := e.create(time.Hour)
	if status, to := submit(cancelled.RedirectURL, "cancel"); status != http.StatusSeeOther || to != "https://shop.example/cancel" {
		t.Errorf("cancel: %d to %q", status, to)
	}
	if resp, err := client.Get(e.URL + "/inbank/pay/5e3a459a-aada-4d81-b6ad-09cb9483c8bf"); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown session page: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

package epcemu

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

func TestUploadRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.Order(nil)
	slots, err := e.Client.CreateResources(ctx, id, []epc.NewResource{
		{Name: "report.pdf", MimeType: "application/pdf"},
		{Name: "photo.jpg", MimeType: "image/jpeg"},
	})
	if err != nil {
		t.Fatalf("CreateResources: %v", err)
	}
	if len(slots) != 2 || !uuidRE.MatchString(slots[0].ID) || !strings.HasPrefix(slots[0].Authorization, "elli-signature ") ||
		slots[0].Location != e.URL+"/sandbox/media/"+slots[0].ID {
		t.Fatalf("slots = %+v", slots)
	}
	pdf := slots[0]

	put := func(auth, ctype, body string) sbtest.Reply {
		return e.Do(http.MethodPut, pdf.Location, body, "Authorization", auth, "Content-Type", ctype)
	}
	tests := []struct {
		name   string
		auth   string
		ctype  string
		status int
	}{
		{"wrong authorization", "elli-signature 00", "application/pdf", 401},
		{"bearer token instead", "Bearer " + e.Token(), "application/pdf", 401},
		{"wrong content type", pdf.Authorization, "image/png", 415},
		{"right", pdf.Authorization, "application/pdf", 200},
		{"the same bytes again (a lost reply)", pdf.Authorization, "application/pdf", 200},
		{"other bytes", pdf.Authorization, "application/pdf", 409},
	}
	for _, tc := range tests {
		body := "%PDF"
		if tc.name == "other bytes" {
			body = "%PDF-other"
		}
		if rep := put(tc.auth, tc.ctype, body); rep.Status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, rep.Status, rep.Body, tc.status)
		}
	}

	// Attaching: unknown ids and slots without bytes are refused with pointers.
	rep := e.Partner(http.MethodPatch, "/partner/v2/transactions/"+id+"/response", map[string]any{
		"resources": []map[string]string{
			{"id": pdf.ID, "name": "report.pdf", "mimeType": "application/pdf"},
			{"id": "no-such-resource"},
			{"id": slots[1].ID},
		},
	})
	if rep.Status != http.StatusBadRequest {
		t.Fatalf("attach: %d %s", rep.Status, rep.Body)
	}
	ae := rep.Err(t)
	sbtest.WantPointers(t, ae, "/resources/1/id", "/resources/2/id")
	for _, p := range ae.Details {
		if p.Pointer == "/resources/1/id" && !strings.HasPrefix(p.Message, "unknown resource") {
			t.Errorf("unknown id message = %q", p.Message)
		}
		if p.Pointer == "/resources/2/id" && !strings.Contains(p.Message, "never uploaded") {
			t.Errorf("not uploaded message = %q", p.Message)
		}
	}

	// A resource of another transaction is unknown here.
	other := e.Order(nil)
	rep = e.Partner(http.MethodPatch, "/partner/v2/transactions/"+other+"/response", map[string]any{"resources": []map[string]string{{"id": pdf.ID}}})
	if rep.Status != http.StatusBadRequest {
		t.Errorf("attach another transaction's file: %d", rep.Status)
	}

	if err := e.Client.PatchResponse(ctx, id, &epc.Response{Resources: []epc.Resource{{ID: pdf.ID, Name: pdf.Name, MimeType: pdf.MimeType}}}); err != nil {
		t.Fatalf("attach: %v", err)
	}
	v := e.Control(id)
	if r := v.Resources[0]; !r.Uploaded || !r.Attached || r.Uploads != 3 || r.Resent != 1 || r.Size != 4 {
		t.Errorf("pdf = %+v, want uploaded, attached, 3 PUTs (1 resent), 4 bytes", r)
	}
	if r := v.Resources[1]; r.Uploaded || r.Attached || r.Uploads != 0 {
		t.Errorf("jpg = %+v", r)
	}
	if rep := e.Do(http.MethodGet, "/sandbox/epc/transactions/"+id+"/resources/"+pdf.ID+"/content", nil); rep.Status != 200 || string(rep.Body) != "%PDF" {
		t.Errorf("lender download: %d %q", rep.Status, rep.Body)
	}
}

func TestCreateResourcesValidation(t *testing.T) {
	e := newEnv(t)
	id := e.Order(nil)
	path := "/partner/v2/transactions/" + id + "/response/resources"
	tests := []struct {
		name     string
		body     any
		pointers []string
	}{
		{"empty list", []any{}, []string{""}},
		{"not a list", map[string]any{"name": "a"}, []string{""}},
		{"missing fields", []any{map[string]any{}, map[string]any{"name": " ", "mimeType": "pdf", "size": 3}}, []string{"/0/name", "/0/mimeType", "/1/name", "/1/mimeType", "/1/size"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := e.Partner(http.MethodPost, path, tc.body)
			if rep.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", rep.Status)
			}
			sbtest.WantPointers(t, rep.Err(t), tc.pointers...)
		})
	}
}

func TestCreateTransactionValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		body     any
		pointers []string
	}{
		{"no request", map[string]any{}, []string{"/request"}},
		{"request not an object", map[string]any{"request": "Appraisal"}, []string{"/request"}},
		{"every problem", map[string]any{
			"request": map[string]any{
				"loan": []int{1}, "options": "x", "credentials": map[string]any{"username": 1, "pin": "0"},
				"resources": []any{map[string]any{"name": "a.pdf", "content": "%%%"}}, "color": "red",
			},
			"product":  map[string]any{"name": ""},
			"clientId": 42,
			"extra":    true,
		}, []string{
			"/request/type", "/request/loan", "/request/options", "/request/credentials/username",
			"/request/credentials/pin", "/request/resources/0/mimeType", "/request/resources/0/content",
			"/request/color", "/product/name", "/clientId", "/extra",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := e.Do(http.MethodPost, "/sandbox/epc/transactions", tc.body)
			if rep.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", rep.Status, rep.Body)
			}
			sbtest.WantPointers(t, rep.Err(t), tc.pointers...)
		})
	}
	rep := e.Do(http.MethodGet, "/sandbox/epc/transactions", nil)
	if string(rep.Body) != "[]\n" {
		t.Errorf("rejected orders were stored: %s", rep.Body)
	}
}

func TestListTransactions(t *testing.T) {
	e := newEnv(t)
	a := e.Order(nil)
	b := e.Order(map[string]any{"request": map[string]any{"type": "Flood"}, "product": map[string]any{"name": "flood"}})
	if err := e.Client.PatchResponse(context.Background(), b, &epc.Response{Status: epc.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	var list []TransactionSummary
	e.Do(http.MethodGet, "/sandbox/epc/transactions", nil).JSON(t, &list)
	if len(list) != 2 || list[0].ID != a || list[1].ID != b || list[1].Status != "completed" ||
		list[1].ResponseStatus != "failed" || list[1].Product != "flood" || list[1].Type != "Flood" {
		t.Errorf("list = %+v", list)
	}
}

package pos_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

func TestParsePackageEventFixture(t *testing.T) {
	ev, err := pos.ParsePackageEvent(testkit.Fixture(t, "pos/testdata/package-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := pos.PackageEvent{
		InstanceID: "BE11140034", GroupNamespace: "loans",
		GroupID: "6a1e1c59-3c6b-4c1f-9b77-2f4f3b8f2f10", PackageID: "pkg-8d2f7c",
		Recipients: []pos.Recipient{
			{RecipientID: "rcp-1", FirstName: "Alice", LastName: "Firstimer", Email: "alice@example.com", Role: pos.RoleBorrower},
			{RecipientID: "rcp-2", FirstName: "Bob", LastName: "Firstimer", Email: "bob@example.com", Role: pos.RoleCoBorrower},
			{RecipientID: "rcp-3", FirstName: "Carol", LastName: "Owner", Email: "carol@example.com", Role: pos.RoleNonBorrowingOwner},
		},
	}
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("got %+v\nwant %+v", ev, want)
	}
	if err := ev.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// What we encode parses back to the same value (the sandbox sends json.Marshal(ev)).
	b, _ := json.Marshal(ev)
	again, err := pos.ParsePackageEvent(b)
	if err != nil || !reflect.DeepEqual(again, ev) {
		t.Errorf("round trip: %v %+v", err, again)
	}
	if r, ok := ev.Recipient("rcp-2"); !ok || r.FirstName != "Bob" {
		t.Errorf("Recipient(rcp-2) = %+v, %v", r, ok)
	}
	if _, ok := ev.Recipient("rcp-9"); ok {
		t.Error("Recipient(rcp-9) found")
	}
}

// edit decodes the fixture, applies f to it and encodes it again.
func edit(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	testkit.FixtureJSON(t, "pos/testdata/package-event.json", &m)
	f(m)
	return testkit.Encode(t, m)
}

func recipient(m map[string]any, i int) map[string]any {
	return m["recipients"].([]any)[i].(map[string]any)
}

func TestParsePackageEventProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		want []schemas.Problem
	}{
		{"not JSON", []byte(`{"instanceId":`), []schemas.Problem{{Pointer: "", Message: "invalid JSON at byte offset 14"}}},
		{"empty body", nil, []schemas.Problem{{Pointer: "", Message: "invalid JSON at byte offset 0"}}},
		{"an array", []byte(`[]`), []schemas.Problem{{Pointer: "", Message: "must be an object, got array"}}},
		{"empty object", []byte(`{}`), []schemas.Problem{
			{Pointer: "/instanceId", Message: "required"},
			{Pointer: "/groupNamespace", Message: "required"},
			{Pointer: "/groupId", Message: "required"},
			{Pointer: "/packageId", Message: "required"},
			{Pointer: "/recipients", Message: "required"},
		}},
		{"wrong types", edit(t, func(m map[string]any) {
			m["instanceId"] = 7
			m["groupId"] = nil
			m["packageId"] = "  "
			m["recipients"] = map[string]any{}
		}), []schemas.Problem{
			{Pointer: "/instanceId", Message: "must be a string, got number"},
			{Pointer: "/groupId", Message: "required"},
			{Pointer: "/packageId", Message: "must not be blank"},
			{Pointer: "/recipients", Message: "must be an array, got object"},
		}},
		{"no recipients", edit(t, func(m map[string]any) { m["recipients"] = []any{} }),
			[]schemas.Problem{{Pointer: "/recipients", Message: "must list at least 1 recipient"}}},
		{"bad recipients", edit(t, func(m map[string]any) {
			r0 := recipient(m, 0)
			delete(r0, "email")
			r0["role"] = "Borrower"
			r0["firstName"] = "Al\nice"
			r1 := recipient(m, 1)
			r1["recipientId"] = "rcp-1"
			r1["email"] = "Bob <bob@example.com>"
			r1["lastName"] = strings.Repeat("x", 201)
			r2 := recipient(m, 2)
			r2["email"] = "not-an-address"
			r2["role"] = true
			m["recipients"] = append(m["recipients"].([]any), "rcp-4")
		}), []schemas.Problem{
			{Pointer: "/recipients/0/firstName", Message: "must not contain control characters"},
			{Pointer: "/recipients/0/email", Message: "required"},
			{Pointer: "/recipients/0/role", Message: `must be one of "borrower", "co-borrower", "non-borrowing-owner"`},
			{Pointer: "/recipients/1/recipientId", Message: "duplicate recipientId (first at /recipients/0/recipientId)"},
			{Pointer: "/recipients/1/lastName", Message: "must be at most 200 characters long"},
			{Pointer: "/recipients/1/email", Message: "must be an e-mail address such as name@example.com"},
			{Pointer: "/recipients/2/email", Message: "must be an e-mail address such as name@example.com"},
			{Pointer: "/recipients/2/role", Message: "must be a string, got boolean"},
			{Pointer: "/recipients/3", Message: "must be an object, got string"},
		}},
		{"unknown members are the platform's business", edit(t, func(m map[string]any) {
			m["packageType"] = "disclosures"
			recipient(m, 0)["middleName"] = "Q"
		}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pos.ParsePackageEvent(tc.body)
			checkProblems(t, err, pos.PackageEventDocument, tc.want)
		})
	}
}

// checkProblems compares a validation error with the problems wanted, in any order.
func checkProblems(t *testing.T, err error, doc string, want []schemas.Problem) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ve *schemas.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, schemas.ErrInvalid) {
		t.Fatalf("error %v (%T), want a *schemas.ValidationError", err, err)
	}
	if ve.Schema != doc {
		t.Errorf("Schema = %q, want %q", ve.Schema, doc)
	}
	got := map[schemas.Problem]bool{}
	for _, p := range ve.Problems {
		got[p] = true
	}
	for _, p := range want {
		if !got[p] {
			t.Errorf("missing problem %s", p)
		}
		delete(got, p)
	}
	for p := range got {
		t.Errorf("unexpected problem %s", p)
	}
}

func TestProblemsNeverEchoPersonalData(t *testing.T) {
	body := edit(t, func(m map[string]any) {
		recipient(m, 0)["email"] = "Secret Person <secret.person@example.com>"
		recipient(m, 1)["firstName"] = "Secretname\x01"
	})
	_, err := pos.ParsePackageEvent(body)
	if err == nil {
		t.Fatal("accepted")
	}
	if s := err.Error(); strings.Contains(s, "secret.person") || strings.Contains(s, "Secretname") {
		t.Fatalf("error echoes personal data: %s", s)
	}
}

func TestKey(t *testing.T) {
	ev := func(i, ns, g, p string) pos.PackageEvent {
		return pos.PackageEvent{InstanceID: i, GroupNamespace: ns, GroupID: g, PackageID: p}
	}
	if got, want := ev("BE11140034", "loans", "6a1e", "pkg-1").Key(), "BE11140034/loans/6a1e/pkg-1"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	// Parts that contain the separator or the escape character cannot collide.
	distinct := []pos.PackageEvent{
		ev("a/b", "c", "d", "e"),
		ev("a", "b/c", "d", "e"),
		ev("a%2Fb", "c", "d", "e"),
		ev("a", "b", "c", "d/e"),
		ev("a", "b", "c/d", "e"),
	}
	seen := map[string]int{}
	for i, e := range distinct {
		k := e.Key()
		if j, dup := seen[k]; dup {
			t.Errorf("events %d and %d share key %q", j, i, k)
		}
		seen[k] = i
		if strings.Count(k, "/") != 3 {
			t.Errorf("key %q has more than 3 separators", k)
		}
	}
	// Recipients are not part of the key: a resent event with other e-mails is the same one.
	a := ev("i", "loans", "g", "p")
	b := a
	b.Recipients = []pos.Recipient{{RecipientID: "r"}}
	if a.Key() != b.Key() {
		t.Error("recipients change the key")
	}
}

func TestParsePackageAnswer(t *testing.T) {
	ev, err := pos.ParsePackageEvent(testkit.Fixture(t, "pos/testdata/package-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	good := pos.PackageAnswer{Recipients: []pos.RecipientAnswer{
		{RecipientID: "rcp-3", EmailHTML: "<p>Carol</p>", PortalURL: "https://portal.example.com/i/tok3"},
		{RecipientID: "rcp-1", EmailHTML: "<p>Alice</p>", PortalURL: "https://portal.example.com/i/tok1"},
		{RecipientID: "rcp-2", EmailHTML: "<p>Bob</p>", PortalURL: "http://127.0.0.1:8080/i/tok2"},
	}}
	body, _ := json.Marshal(good)
	got, err := pos.ParsePackageAnswer(ev, body)
	if err != nil || !reflect.DeepEqual(got, good) {
		t.Fatalf("ParsePackageAnswer = %+v, %v", got, err)
	}
	if !strings.Contains(string(body), `"emailHtml"`) || !strings.Contains(string(body), `"portalUrl"`) {
		t.Errorf("answer members: %s", body)
	}

	bad := pos.PackageAnswer{Recipients: []pos.RecipientAnswer{
		{RecipientID: "rcp-1", EmailHTML: " ", PortalURL: "/relative/secret-token"},
		{RecipientID: "rcp-1", EmailHTML: "<p/>", PortalURL: "https://p.example.com/"},
		{RecipientID: "rcp-9", EmailHTML: "<p/>", PortalURL: "javascript:alert(1)"},
	}}
	body, _ = json.Marshal(bad)
	_, err = pos.ParsePackageAnswer(ev, body)
	checkProblems(t, err, pos.PackageAnswerDocument, []schemas.Problem{
		{Pointer: "/recipients/0/emailHtml", Message: "must not be blank"},
		{Pointer: "/recipients/0/portalUrl", Message: "must be an absolute http(s) URL"},
		{Pointer: "/recipients/1/recipientId", Message: "duplicate recipientId (first at /recipients/0/recipientId)"},
		{Pointer: "/recipients/2/recipientId", Message: `not a recipient of the package: "rcp-9"`},
		{Pointer: "/recipients/2/portalUrl", Message: "must be an absolute http(s) URL"},
		{Pointer: "/recipients", Message: `no answer for recipientId "rcp-2", "rcp-3"`},
	})
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error echoes the portal URL: %v", err)
	}
	if err := bad.Validate(ev); err == nil {
		t.Error("Validate accepted a bad answer")
	}
	_, err = pos.ParsePackageAnswer(ev, []byte(`{"recipients":null}`))
	checkProblems(t, err, pos.PackageAnswerDocument, []schemas.Problem{{Pointer: "/recipients", Message: "required"}})
}

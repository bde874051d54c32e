package schemas_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/schemas"
)

// sha256 of seed 003's schema block as published (lines "{" … "} ", trailing space and
// final newline included). A reformatted file fails here.
const publishedServiceEventsSHA256 = "76efb6d8f9f7c7623284fc86e8c8364cb2a06190e3de6af28a6a0dc62e29f288"

const nonEmpty = "must be a non-empty string (not blank)"

var names = []string{schemas.ServiceEvents, schemas.ResponsePatch, schemas.Webhook, schemas.PartnerEvent, schemas.InbankPOSSession}

func TestEmbeddedSchemasCompile(t *testing.T) {
	v, err := schemas.New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, n := range names {
		if err := v.Validate(n, []byte(`{}`)); err != nil && errors.Is(err, schemas.ErrUnknownSchema) {
			t.Errorf("%s is not compiled: %v", n, err)
		}
	}
	// Every *.json in the folder is one of the names above (nothing embedded by accident).
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(names) {
		t.Errorf("embedded files %v, want exactly %v", files, names)
	}
	if schemas.Default() == nil || schemas.Default() != schemas.Default() {
		t.Error("Default must return one shared validator")
	}
}

func TestServiceEventsSchemaIsVerbatim(t *testing.T) {
	raw, err := os.ReadFile(schemas.ServiceEvents)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != publishedServiceEventsSHA256 {
		t.Errorf("%s sha256 = %s, want the published bytes (%s)", schemas.ServiceEvents, got, publishedServiceEventsSHA256)
	}
	for _, s := range []string{`"pattern": "^(?!\\s*$).+"`, `"$ref": "#/validationMessage/invalid-string"`} {
		if !strings.Contains(string(raw), s) {
			t.Errorf("published schema lost %s", s)
		}
	}
}

// seed003Patch is seed 003's sample PATCH payload; its "... // Additional loan data"
// placeholder is replaced by {"loanNumber":"1"}.
const seed003Patch = "schemas/testdata/seed003-sample-patch.json"

// sampleDoc is seed003Patch as a document to mutate.
func sampleDoc(t testing.TB) map[string]any {
	t.Helper()
	var doc map[string]any
	testkit.FixtureJSON(t, seed003Patch, &doc)
	return doc
}

func TestSeedSampleIsValid(t *testing.T) {
	v := schemas.Default()
	raw := testkit.Fixture(t, seed003Patch)
	if err := v.Validate(schemas.ResponsePatch, raw); err != nil {
		t.Errorf("sample PATCH: %v", err)
	}
	details := sampleDoc(t)["result"].(map[string]any)["details"]
	if err := v.ValidateValue(schemas.ServiceEvents, details); err != nil {
		t.Errorf("sample details: %v", err)
	}
	// The typed model other packages send round-trips to a valid body.
	var resp epc.Response
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateValue(schemas.ResponsePatch, resp); err != nil {
		t.Errorf("sample as epc.Response: %v", err)
	}
	var se epc.ServiceEventsDetails
	if err := json.Unmarshal(resp.Result.Details, &se); err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateValue(schemas.ServiceEvents, se); err != nil {
		t.Errorf("sample details as epc.ServiceEventsDetails: %v", err)
	}
}

const ev0 = "/result/details/serviceEvents/0"

func TestResponsePatchProblems(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(d map[string]any)
		want   []schemas.Problem // nil: valid
	}{
		{"sample", func(map[string]any) {}, nil},
		{"comments and optional fields", func(d map[string]any) {
			testkit.Set(d, ev0+"/comments", []any{map[string]any{"comment": "called the borrower"}})
			testkit.Set(d, ev0+"/sender", "partner")
			testkit.Set(d, ev0+"/provider", "acme")
		}, nil},
		{"status inputRequired", func(d map[string]any) { testkit.Set(d, "/status", "inputRequired") }, nil},
		{"retry with processing", func(d map[string]any) {
			testkit.Set(d, "/status", "processing")
			testkit.Set(d, "/retry", map[string]any{"interval": "15", "duration": 1440})
		}, nil},
		{"other action with free details", func(d map[string]any) {
			testkit.Set(d, "/result", map[string]any{"action": "UPDATE_TASK", "format": "application/vnd.task.update-1.0.0.json", "details": map[string]any{"x": 1}})
		}, nil},
		{"full response", func(d map[string]any) {
			testkit.Set(d, "/referenceNumber", "R-1")
			testkit.Set(d, "/respondingParty", map[string]any{"name": "Acme", "pointOfContact": map[string]any{"name": "Jo", "email": "jo@acme.test"}})
			testkit.Set(d, "/resources", []any{map[string]any{"id": "r1", "name": "report.pdf", "mimeType": "application/pdf"}})
			testkit.Set(d, "/errors", []any{map[string]any{"code": "PARTNER-1001", "description": "Invalid credentials", "type": "partner", "fieldId": "f"}})
		}, nil},

		{"empty serviceEvents", func(d map[string]any) {
			testkit.Set(d, "/result/details/serviceEvents", []any{})
		}, []schemas.Problem{{Pointer: "/result/details/serviceEvents", Message: "must have at least 1 item"}}},
		{"whitespace-only code", func(d map[string]any) {
			testkit.Set(d, ev0+"/code", " \t ")
		}, []schemas.Problem{{Pointer: ev0 + "/code", Message: nonEmpty}}},
		{"empty title", func(d map[string]any) {
			testkit.Set(d, "/result/details/serviceEvents/1/title", "")
		}, []schemas.Problem{{Pointer: "/result/details/serviceEvents/1/title", Message: nonEmpty}}},
		{"code not a string", func(d map[string]any) {
			testkit.Set(d, ev0+"/code", 7)
		}, []schemas.Problem{{Pointer: ev0 + "/code", Message: "must be of type string, got integer"}}},
		{"missing title", func(d map[string]any) {
			testkit.Delete(d, ev0+"/title")
		}, []schemas.Problem{{Pointer: ev0, Message: `missing property "title"`}}},
		{"extra property in an event", func(d map[string]any) {
			testkit.Set(d, ev0+"/severity", "high")
		}, []schemas.Problem{{Pointer: ev0, Message: `property "severity" is not allowed`}}},
		{"extra property in details", func(d map[string]any) {
			testkit.Set(d, "/result/details/version", "1")
		}, []schemas.Problem{{Pointer: "/result/details", Message: `property "version" is not allowed`}}},
		{"comments empty", func(d map[string]any) {
			testkit.Set(d, ev0+"/comments", []any{})
		}, []schemas.Problem{{Pointer: ev0 + "/comments", Message: "must have at least 1 item"}}},
		{"comment without comment", func(d map[string]any) {
			testkit.Set(d, ev0+"/comments", []any{map[string]any{"text": "x"}})
		}, []schemas.Problem{
			{Pointer: ev0 + "/comments/0", Message: `missing property "comment"`},
			{Pointer: ev0 + "/comments/0", Message: `property "text" is not allowed`},
		}},
		{"blank comment", func(d map[string]any) {
			testkit.Set(d, ev0+"/comments", []any{map[string]any{"comment": "\n"}})
		}, []schemas.Problem{{Pointer: ev0 + "/comments/0/comment", Message: nonEmpty}}},
		{"many problems at once, sorted by pointer", func(d map[string]any) {
			testkit.Set(d, "/status", "done")
			testkit.Delete(d, ev0+"/code")
			testkit.Delete(d, ev0+"/title")
			testkit.Set(d, "/result/details/serviceEvents/1/code", "")
			testkit.Set(d, "/result/details/serviceEvents/1/comments", []any{})
			for i := 2; i <= 10; i++ {
				d["result"].(map[string]any)["details"].(map[string]any)["serviceEvents"] = append(
					schemas.ValueAt(d, "/result/details/serviceEvents").([]any), map[string]any{"code": "E", "title": "T"})
			}
			testkit.Set(d, "/result/details/serviceEvents/10/title", " ")
		}, []schemas.Problem{
			{Pointer: ev0, Message: `missing property "code"`},
			{Pointer: ev0, Message: `missing property "title"`},
			{Pointer: "/result/details/serviceEvents/1/code", Message: nonEmpty},
			{Pointer: "/result/details/serviceEvents/1/comments", Message: "must have at least 1 item"},
			{Pointer: "/result/details/serviceEvents/10/title", Message: nonEmpty},
			{Pointer: "/status", Message: `must be one of "processing", "completed", "failed", "canceled", "inputRequired"`},
		}},
		{"bad status", func(d map[string]any) {
			testkit.Set(d, "/status", "Completed")
		}, []schemas.Problem{{Pointer: "/status", Message: `must be one of "processing", "completed", "failed", "canceled", "inputRequired"`}}},
		{"retry with status failed", func(d map[string]any) {
			testkit.Set(d, "/status", "failed")
			testkit.Set(d, "/retry", map[string]any{"interval": "5", "duration": 60})
		}, []schemas.Problem{{Pointer: "/status", Message: `must be "processing" or "completed" when retry is sent`}}},
		{"retry without status", func(d map[string]any) {
			testkit.Delete(d, "/status")
			testkit.Set(d, "/retry", map[string]any{"interval": "5"})
		}, []schemas.Problem{{Pointer: "", Message: `missing property "status": retry is only allowed with status "processing" or "completed"`}}},
		{"retry out of range", func(d map[string]any) {
			testkit.Set(d, "/retry", map[string]any{"interval": "10", "duration": 1441})
		}, []schemas.Problem{
			{Pointer: "/retry/duration", Message: "must be <= 1440"},
			{Pointer: "/retry/interval", Message: `must be one of "None", "1", "5", "15"`},
		}},
		{"retry duration not an integer", func(d map[string]any) {
			testkit.Set(d, "/retry", map[string]any{"duration": 1.5})
		}, []schemas.Problem{{Pointer: "/retry/duration", Message: "must be of type integer, got number"}}},
		{"wrong format for CREATE_SERVICE_EVENTS", func(d map[string]any) {
			testkit.Set(d, "/result/format", "application/json")
		}, []schemas.Problem{{Pointer: "/result/format", Message: `must be "application/vnd.service-events-create-1.0.0.json" for action CREATE_SERVICE_EVENTS`}}},
		{"CREATE_SERVICE_EVENTS without details", func(d map[string]any) {
			testkit.Delete(d, "/result/details")
		}, []schemas.Problem{{Pointer: "/result", Message: `missing property "details"`}}},
		{"result without action", func(d map[string]any) {
			testkit.Delete(d, "/result/action")
		}, []schemas.Problem{{Pointer: "/result", Message: `missing property "action"`}}},
		{"loan without loanFormat", func(d map[string]any) {
			testkit.Delete(d, "/loanFormat")
		}, []schemas.Problem{{Pointer: "", Message: `missing property "loanFormat" (required when "loan" is present)`}}},
		{"extra top-level property", func(d map[string]any) {
			testkit.Set(d, "/request", map[string]any{})
		}, []schemas.Problem{{Pointer: "", Message: `property "request" is not allowed`}}},
		{"bad errors item", func(d map[string]any) {
			testkit.Set(d, "/errors", []any{map[string]any{"code": "PARTNER-1001", "type": "lender"}})
		}, []schemas.Problem{
			{Pointer: "/errors/0", Message: `missing property "description"`},
			{Pointer: "/errors/0/type", Message: `must be "partner"`},
		}},
		{"resource without id", func(d map[string]any) {
			testkit.Set(d, "/resources", []any{map[string]any{"name": "a.pdf", "authorization": "x"}})
		}, []schemas.Problem{
			{Pointer: "/resources/0", Message: `missing property "id"`},
			{Pointer: "/resources/0", Message: `property "authorization" is not allowed`},
		}},
		{"empty body", func(d map[string]any) {
			for k := range d {
				delete(d, k)
			}
		}, []schemas.Problem{{Pointer: "", Message: "must not be empty: send at least one property"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sampleDoc(t)
			tc.mutate(d)
			err := schemas.Default().ValidateValue(schemas.ResponsePatch, d)
			checkProblems(t, err, tc.want)
		})
	}
}

func checkProblems(t *testing.T, err error, want []schemas.Problem) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("want valid, got %v", err)
		}
		return
	}
	var ve *schemas.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T %v", err, err)
	}
	if !errors.Is(err, schemas.ErrInvalid) {
		t.Error("errors.Is(err, ErrInvalid) = false")
	}
	if got := schemas.Problems(err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}

func TestServiceEventsDirect(t *testing.T) {
	v := schemas.Default()
	for _, tc := range []struct {
		name, doc string
		want      []schemas.Problem
	}{
		{"minimal", `{"serviceEvents":[{"code":"E","title":"T"}]}`, nil},
		{"missing serviceEvents", `{}`, []schemas.Problem{{Pointer: "", Message: `missing property "serviceEvents"`}}},
		{"not an object", `[]`, []schemas.Problem{{Pointer: "", Message: "must be of type object, got array"}}},
		{"code starting with a line break", `{"serviceEvents":[{"code":"\nE","title":"T"}]}`,
			[]schemas.Problem{{Pointer: "/serviceEvents/0/code", Message: nonEmpty}}},
		{"code with inner line break", `{"serviceEvents":[{"code":"E\n1","title":" T"}]}`, nil},
		{"no-break space only", `{"serviceEvents":[{"code":"\u00a0","title":"T"}]}`,
			[]schemas.Problem{{Pointer: "/serviceEvents/0/code", Message: nonEmpty}}},
		{"property with slash and tilde", `{"serviceEvents":[{"code":"E","title":"T","a/b~c":1}]}`,
			[]schemas.Problem{{Pointer: "/serviceEvents/0", Message: `property "a/b~c" is not allowed`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkProblems(t, v.Validate(schemas.ServiceEvents, []byte(tc.doc)), tc.want)
		})
	}
}

func TestMalformedJSON(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"syntax error", `{"status":}`, "invalid JSON at byte offset 11: invalid character '}' looking for beginning of value"},
		{"truncated", `{"status":"processing"`, "invalid JSON at byte offset 22: unexpected end of input"},
		{"trailing data", `{"status":"processing"} {}`, "invalid JSON at byte offset 24: unexpected data after the top-level value"},
		{"empty", ``, "invalid JSON: empty document"},
		{"whitespace", " \n", "invalid JSON: empty document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := schemas.Default().Validate(schemas.ResponsePatch, []byte(tc.doc))
			checkProblems(t, err, []schemas.Problem{{Pointer: "", Message: tc.want}})
		})
	}
}

func TestErrorsAndLookups(t *testing.T) {
	v := schemas.Default()
	err := v.Validate("nope.json", []byte(`{}`))
	var ve *schemas.ValidationError
	if err == nil || !errors.Is(err, schemas.ErrUnknownSchema) || errors.As(err, &ve) || schemas.Problems(err) != nil {
		t.Errorf("unknown schema: err = %v, want a plain error wrapping ErrUnknownSchema", err)
	}
	if schemas.Problems(nil) != nil || schemas.Problems(errors.New("x")) != nil {
		t.Error("Problems of a non-validation error must be nil")
	}

	err = v.Validate(schemas.ResponsePatch, []byte(`{"status":"s3cr3t","password":"hunter2"}`))
	want := `schemas: invalid response-patch.json document: (root): property "password" is not allowed; ` +
		`/status: must be one of "processing", "completed", "failed", "canceled", "inputRequired"`
	if err == nil || err.Error() != want {
		t.Errorf("Error() = %q\nwant       %q", err, want)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cr3t") {
		t.Error("error text echoes document values")
	}

	if err := v.ValidateValue(schemas.PartnerEvent, make(chan int)); err == nil || errors.As(err, &ve) {
		t.Errorf("unencodable value: err = %v, want a plain encoding error", err)
	}
	if err := v.ValidateValue(schemas.PartnerEvent, json.RawMessage(`{"text":"x","type":"urn:a:b"}`)); err != nil {
		t.Errorf("RawMessage: %v", err)
	}
	if err := v.ValidateValue(schemas.PartnerEvent, []byte(`{"text":""}`)); len(schemas.Problems(err)) != 2 {
		t.Errorf("[]byte: %v, want 2 problems", err)
	}
}

func TestWebhook(t *testing.T) {
	const ok = `{"eventId":"e1","eventTime":"2024-07-22T21:20:50Z","eventType":"created","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"tx-1","instanceId":"i","resourceRef":"https://x/partner/v2/transactions/tx-1"}}`
	for _, tc := range []struct {
		name, doc string
		want      []schemas.Problem
	}{
		{"transaction created", ok, nil},
		{"event webhook, no eventId, extra fields", `{"eventTime":"2024-07-22T21:20:50.123+02:00","eventType":"created","extra":1,"meta":{"resourceType":"urn:elli:epc:transaction:event","resourceId":"ev-1","userId":"u","more":true}}`, nil},
		{"empty object", `{}`, []schemas.Problem{
			{Pointer: "", Message: `missing property "eventTime"`},
			{Pointer: "", Message: `missing property "eventType"`},
			{Pointer: "", Message: `missing property "meta"`},
		}},
		{"bad values", `{"eventTime":"yesterday","eventType":"deleted","meta":{"resourceType":"urn:elli:epc:loan","resourceId":" "}}`, []schemas.Problem{
			{Pointer: "/eventTime", Message: "must be a valid date-time"},
			{Pointer: "/eventType", Message: `must be one of "created", "updated"`},
			{Pointer: "/meta/resourceId", Message: nonEmpty},
			{Pointer: "/meta/resourceType", Message: `must be one of "urn:elli:epc:transaction", "urn:elli:epc:transaction:event"`},
		}},
		{"meta without ids", `{"eventTime":"2024-07-22T21:20:50Z","eventType":"updated","meta":{}}`, []schemas.Problem{
			{Pointer: "/meta", Message: `missing property "resourceId"`},
			{Pointer: "/meta", Message: `missing property "resourceType"`},
		}},
		{"meta not an object", `{"eventTime":"2024-07-22T21:20:50Z","eventType":"updated","meta":"tx-1"}`, []schemas.Problem{
			{Pointer: "/meta", Message: "must be of type object, got string"},
		}},
		{"eventId not a string", strings.Replace(ok, `"e1"`, `7`, 1), []schemas.Problem{
			{Pointer: "/eventId", Message: "must be of type string, got integer"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkProblems(t, schemas.Default().Validate(schemas.Webhook, []byte(tc.doc)), tc.want)
		})
	}
}

func TestPartnerEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  any
		want []schemas.Problem
	}{
		{"typed minimal", epc.NewEvent{Text: "Appraisal scheduled", Type: "urn:elli:epc:partner:appraisal:scheduled"}, nil},
		{"full", map[string]any{"text": "t", "type": "urn:elli:epc:partner:x", "comments": "c",
			"resources": []any{map[string]any{"id": "r1", "name": "a.pdf", "mimeType": "application/pdf"}}}, nil},
		{"without text", map[string]any{"type": "urn:elli:epc:partner:x"},
			[]schemas.Problem{{Pointer: "", Message: `missing property "text"`}}},
		{"blank text, bad type", map[string]any{"text": "  ", "type": "appraisal scheduled"}, []schemas.Problem{
			{Pointer: "/text", Message: nonEmpty},
			{Pointer: "/type", Message: `must be a URN such as "urn:elli:epc:partner:appraisal:scheduled"`},
		}},
		{"extra property and bad resource", map[string]any{"text": "t", "type": "urn:a:b", "from": "me",
			"comments": 3, "resources": []any{map[string]any{"name": "a.pdf"}}}, []schemas.Problem{
			{Pointer: "", Message: `property "from" is not allowed`},
			{Pointer: "/comments", Message: "must be of type string, got integer"},
			{Pointer: "/resources/0", Message: `missing property "id"`},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkProblems(t, schemas.Default().ValidateValue(schemas.PartnerEvent, tc.doc), tc.want)
		})
	}
}

func TestConcurrentValidation(t *testing.T) {
	v := schemas.Default()
	good := testkit.Fixture(t, seed003Patch)
	bad := []byte(`{"status":"x","result":{"action":"CREATE_SERVICE_EVENTS","format":"f","details":{"serviceEvents":[]}}}`)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if err := v.Validate(schemas.ResponsePatch, good); err != nil {
					errs <- err
					return
				}
				if n := len(schemas.Problems(v.Validate(schemas.ResponsePatch, bad))); n != 3 {
					errs <- errors.New("worker " + strconv.Itoa(i) + ": want 3 problems, got " + strconv.Itoa(n))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkValidateResponsePatch(b *testing.B) {
	v := schemas.Default()
	raw := testkit.Fixture(b, seed003Patch)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(schemas.ResponsePatch, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValueAt(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"a":{"b":[1,{"c":"x"}]},"d/e":true,"t~":0}`), &doc); err != nil {
		t.Fatal(err)
	}
	for ptr, want := range map[string]any{
		"": doc, "/a/b/0": 1.0, "/a/b/1/c": "x", "/d~1e": true, "/t~0": 0.0,
		"/a/b/2": nil, "/a/b/-1": nil, "/a/b/x": nil, "/none/deeper": nil, "/d~1e/x": nil,
	} {
		if got := schemas.ValueAt(doc, ptr); !reflect.DeepEqual(got, want) {
			t.Errorf("ValueAt(%q) = %v, want %v", ptr, got, want)
		}
	}
}

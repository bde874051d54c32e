package pos_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

// FuzzPackageEvent: whatever the body, parsing never panics and fails only with a
// *schemas.ValidationError; what parses survives a round trip; and a body with one byte
// changed never verifies under the signature of the original. The seed corpus runs with
// every `go test`; explore with `go test -fuzz FuzzPackageEvent ./pos/`.
func FuzzPackageEvent(f *testing.F) {
	f.Add(testkit.Fixture(f, "pos/testdata/package-event.json"), uint(0), byte(1))
	f.Add(testkit.Fixture(f, "pos/testdata/package-event.json"), uint(57), byte(0x20))
	f.Add([]byte(`{}`), uint(1), byte(0xff))
	f.Add([]byte(`{"recipients":[null,1,"x",{}]}`), uint(3), byte(2))
	f.Add([]byte(`{"instanceId":"\u0000","recipients":[{"recipientId":"a"},{"recipientId":"a"}]}`), uint(9), byte(4))
	f.Add([]byte(`[`), uint(0), byte(8))
	f.Add([]byte(""), uint(0), byte(1))
	f.Add([]byte("\xff\xfe{\"a\":1}"), uint(2), byte(0x80))

	signer, err := pos.NewSigner("", "integration-1", "key-1", "fuzz-secret")
	if err != nil {
		f.Fatal(err)
	}
	verifier := signer.Verifier()

	f.Fuzz(func(t *testing.T, body []byte, at uint, flip byte) {
		ev, err := pos.ParsePackageEvent(body)
		if err != nil {
			var ve *schemas.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %v (%T) is not a validation error with problems", err, err)
			}
		} else {
			if err := ev.Validate(); err != nil {
				t.Fatalf("parsed event fails Validate: %v", err)
			}
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			again, err := pos.ParsePackageEvent(b)
			if err != nil || !reflect.DeepEqual(again, ev) {
				t.Fatalf("round trip: %v\n%+v\n%+v", err, again, ev)
			}
		}

		h := signer.Header(body)
		if err := verifier.Verify(h, body); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
		if len(body) == 0 || flip == 0 {
			return
		}
		changed := append([]byte(nil), body...)
		changed[at%uint(len(body))] ^= flip
		if err := verifier.Verify(h, changed); !errors.Is(err, pos.ErrBadSignature) {
			t.Fatalf("a changed body verified: %v", err)
		}
	})
}

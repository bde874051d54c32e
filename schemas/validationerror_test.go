package schemas_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/epcflow/epcflow/schemas"
)

func TestNewValidationError(t *testing.T) {
	if err := schemas.NewValidationError(schemas.InbankPOSSession, nil); err != nil {
		t.Errorf("no problems: %v, want an untyped nil", err)
	}
	err := schemas.NewValidationError(schemas.InbankPOSSession, []schemas.Problem{
		{Pointer: "/a/10", Message: "x"},
		{Pointer: "/a/2", Message: "y"},
		{Pointer: "", Message: "z"},
		{Pointer: "/a/2", Message: "y"},
	})
	var ve *schemas.ValidationError
	if !errors.Is(err, schemas.ErrInvalid) || !errors.As(err, &ve) || ve.Schema != schemas.InbankPOSSession {
		t.Fatalf("got %v", err)
	}
	want := []schemas.Problem{{Pointer: "", Message: "z"}, {Pointer: "/a/2", Message: "y"}, {Pointer: "/a/10", Message: "x"}}
	if !reflect.DeepEqual(ve.Problems, want) {
		t.Errorf("problems %v, want %v (de-duplicated, sorted)", ve.Problems, want)
	}
}

package accounts

import (
	"context"
	"errors"
	"testing"
)

func TestDemoStore(t *testing.T) {
	s := Demo()
	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{"valid", "demo", "demo-password-1", true},
		{"wrong password", "demo", "demo-password-2", false},
		{"unknown user", "donaldd", "p@s$w0rd", false},
		{"empty", "", "", false},
		{"unknown user with demo password", "other", "demo-password-1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Verify(context.Background(), tt.user, tt.pass)
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Verify = %v, want ErrInvalidCredentials", err)
			}
		})
	}
}

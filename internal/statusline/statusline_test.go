package statusline

import "testing"

func TestString(t *testing.T) {
	for _, tc := range []struct {
		status  int
		message string
		want    string
	}{
		{404, "no such package", "404 Not Found: no such package"},
		{503, "", "503 Service Unavailable"},
		{599, "odd", "599: odd"},
		{599, "", "599"},
	} {
		if got := String(tc.status, tc.message); got != tc.want {
			t.Errorf("String(%d, %q) = %q, want %q", tc.status, tc.message, got, tc.want)
		}
	}
}

package localrun

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"testing"
)

func TestCleanupsRunLastAddedFirstAndOnce(t *testing.T) {
	var c Cleanups
	var got []int
	for i := range 3 {
		c.Add(func() { got = append(got, i) })
	}
	c.Run()
	c.Run()
	if want := []int{2, 1, 0}; !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
}

func TestFreePortCanBeBound(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d: %v", port, err)
	}
	ln.Close()
}

func TestDoUndoesTheSetupWhateverHappens(t *testing.T) {
	errStart := errors.New("second part failed")
	for _, tc := range []struct {
		name      string
		startErr  error
		wantRun   bool
		wantErr   error
		wantUndos []string
	}{
		{"run", nil, true, nil, []string{"second", "first"}},
		{"setup fails part-way", errStart, false, errStart, []string{"first"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				c     Cleanups
				undos []string
				ran   bool
			)
			start := func(context.Context) error {
				c.Add(func() { undos = append(undos, "first") })
				if tc.startErr != nil {
					return tc.startErr
				}
				c.Add(func() { undos = append(undos, "second") })
				return nil
			}
			run := func(context.Context) (int, error) {
				ran = true
				if len(undos) != 0 {
					t.Errorf("undone before the run: %v", undos)
				}
				return 7, nil
			}
			got, err := Do(context.Background(), &c, start, run)
			if !errors.Is(err, tc.wantErr) || ran != tc.wantRun || (tc.wantRun && got != 7) {
				t.Fatalf("Do = %d, %v (ran %v); want error %v, ran %v", got, err, ran, tc.wantErr, tc.wantRun)
			}
			if !slices.Equal(undos, tc.wantUndos) {
				t.Fatalf("undone %v, want %v", undos, tc.wantUndos)
			}
		})
	}
}

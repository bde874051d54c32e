package localrun

import (
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

package cli

import "testing"

// TestInvocation: the commands this binary prints start the way it was started: `go run .`
// only when `go run` built it, else the path it was run as, quoted for a shell.
func TestInvocation(t *testing.T) {
	tests := []struct {
		argv0, gocache, want string
	}{
		{"/tmp/go-build1705626900/b001/exe/epcflow", "", "go run ."},
		{"/root/.cache/go-build/f5/f5a66a6fcaf7f61a7a1e592e12e39de531621e597e25e7f16dbbb5c6af1586fa-d/epcflow", "", "go run ."},
		{"/srv/cache/f5/f5a6-d/epcflow", "/srv/cache", "go run ."},
		{"./epcflow", "", "./epcflow"},
		{"epcflow", "", "epcflow"},
		{"/usr/local/bin/epcflow", "/root/.cache/go-build", "/usr/local/bin/epcflow"},
		{"/home/ann/my tools/epcflow", "", "'/home/ann/my tools/epcflow'"},
		{"/home/o'neil/epcflow", "", `'/home/o'\''neil/epcflow'`},
		{"/opt/go-builder/epcflow", "", "/opt/go-builder/epcflow"},
	}
	for _, tt := range tests {
		got := invocation(tt.argv0, func(k string) string {
			if k == "GOCACHE" {
				return tt.gocache
			}
			return ""
		})
		if got != tt.want {
			t.Errorf("invocation(%q, GOCACHE=%q) = %q, want %q", tt.argv0, tt.gocache, got, tt.want)
		}
	}
	e := &env{self: "./epcflow"}
	if got, want := e.command(".epcflow", "start", "show", "--id", "tx 1"), "./epcflow start show --id 'tx 1'"; got != want {
		t.Errorf("command = %q, want %q", got, want)
	}
	if got, want := e.command("/data/epc flow", "dev"), "./epcflow dev --data-dir '/data/epc flow'"; got != want {
		t.Errorf("command = %q, want %q", got, want)
	}
}

package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// notInProduction are the modules the production build (-tags production) leaves out: the
// embedded Temporal server and its Web UI.
var notInProduction = []string{"go.temporal.io/server", "github.com/temporalio/ui-server/v2"}

// TestProductionBuildLeavesTheServerOut: no package of the Temporal server or the UI is among
// the production binary's dependencies (a quick check: go list), while the full build has them.
func TestProductionBuildLeavesTheServerOut(t *testing.T) {
	for _, tc := range []struct {
		tags string
		want bool
	}{{"production", false}, {"", true}} {
		out, err := exec.Command("go", "list", "-tags", tc.tags, "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".").Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v", tc.tags, stderrOf(err))
		}
		mods := strings.Fields(string(out))
		for _, m := range notInProduction {
			if got := slices.Contains(mods, m); got != tc.want {
				t.Errorf("build tags %q: depends on %s: %v, want %v", tc.tags, m, got, tc.want)
			}
		}
	}
}

// TestProductionBinary builds the production binary as scripts/build-production does and
// reads its module list the way an operator would (go version -m); the commands it leaves
// out say so.
func TestProductionBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary (about a minute)")
	}
	bin := filepath.Join(t.TempDir(), "epcflow")
	if out, err := exec.Command("go", "build", "-tags", "production", "-trimpath", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags production: %v\n%s", err, out)
	}
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", stderrOf(err))
	}
	if !strings.Contains(string(info), "\tbuild\t-tags=production\n") || !strings.Contains(string(info), "\tdep\tgo.temporal.io/sdk\t") {
		t.Fatalf("go version -m: no production tag or no SDK in\n%s", info)
	}
	for _, m := range notInProduction {
		if strings.Contains(string(info), "\tdep\t"+m+"\t") {
			t.Errorf("the production binary links %s", m)
		}
	}
	for _, name := range []string{"dev", "bench", "chaos"} {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, name)
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "epcflow "+name+": not in this build") {
			t.Errorf("epcflow %s: %v, stderr %q; want exit 1 saying it is not in this build", name, err, stderr.String())
		}
	}
	for _, args := range [][]string{{"worker", "-h"}, {"api", "-h"}, {"sandbox", "-h"}, {"replay", "-h"}, {"start"}} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil || len(out) == 0 {
			t.Errorf("epcflow %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func stderrOf(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return errors.New(strings.TrimSpace(string(exit.Stderr)))
	}
	return err
}

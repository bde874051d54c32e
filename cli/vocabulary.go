package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/epcflow/epcflow/vocab"
)

// vocabularyFlag registers --vocabulary (worker, api, sandbox, dev): the file naming what
// epcflow calls things toward the platforms. Every part of a deployment must be given the same.
func vocabularyFlag(f *flags, p *string) {
	f.str(p, "vocabulary", "EPCFLOW_VOCABULARY", "", "`file` (JSON or YAML) changing epcflow's names toward the platforms: error codes, event types, service-event codes, partner statuses, signature headers, the POS signing scheme (see: epcflow vocabulary); give every part the same (empty: the defaults)")
}

// loadVocabulary reads the --vocabulary file; a bad one is a usage error naming every problem.
func loadVocabulary(path string, log *slog.Logger) (vocab.Vocabulary, error) {
	v, err := vocab.Load(path)
	if err != nil {
		return vocab.Vocabulary{}, usageErr("--vocabulary (EPCFLOW_VOCABULARY): %v", err)
	}
	if ch := v.Changed(); len(ch) > 0 && log != nil {
		names := make([]string, 0, len(ch))
		for _, e := range ch {
			names = append(names, string(e.Key)+"="+e.Value)
		}
		log.Info("vocabulary: names changed from the defaults", "file", path, "changed", strings.Join(names, ", "))
	}
	return v, nil
}

func runVocabulary(_ context.Context, e *env, args []string) error {
	f := newFlags(e, "vocabulary")
	var path string
	var asJSON bool
	vocabularyFlag(f, &path)
	f.boolean(&asJSON, "json", false, "print the table as JSON")
	if err := f.parse(args); err != nil {
		return err
	}
	v, err := loadVocabulary(path, nil)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v.Entries())
	}
	return printVocabulary(e.stdout, v)
}

// printVocabulary writes the effective table: name, value, standing, whether it may change,
// where epcflow uses it.
func printVocabulary(w io.Writer, v vocab.Vocabulary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVALUE\tSTANDING\tCONFIGURABLE\tUSED")
	for _, e := range v.Entries() {
		value := e.Value
		if value != e.Default {
			value += " (default " + e.Default + ")"
		}
		can := "yes"
		if !e.Configurable() {
			can = "no"
		}
		if e.Allowed != nil {
			can = strings.Join(e.Allowed, "|")
		}
		fmt.Fprintf(tw, "%s\t%s\t[%s]\t%s\t%s\n", e.Key, value, e.Standing, can, e.Used)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nChange [ours] and [sample] names with a JSON or YAML file of name: value, given to worker, api and sandbox (and dev) by --vocabulary or EPCFLOW_VOCABULARY.")
	return err
}

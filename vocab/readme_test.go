package vocab_test

import (
	"strings"
	"testing"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/vocab"
)

// TestREADMEListsTheVocabulary: the README's table names every entry with its default and
// standing, so what to confirm with ICE stays what the code uses.
func TestREADMEListsTheVocabulary(t *testing.T) {
	readme := string(testkit.Fixture(t, "README.md"))
	for _, e := range vocab.Default().Entries() {
		row := "| `" + string(e.Key) + "` | `" + e.Value + "` | [" + string(e.Standing) + "]"
		if !strings.Contains(readme, row) {
			t.Errorf("README's vocabulary table lacks %s", row)
		}
	}
}

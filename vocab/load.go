package vocab

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Load reads a vocabulary file: a JSON or YAML object of names to values, e.g.
//
//	{"error.missingInput": "ACME-2001", "event.requestCanceled": "urn:elli:epc:transaction:request:cancelled"}
//
// Names not in the file keep their default. An empty path is the default vocabulary. Errors
// name the file and every problem (see New).
func Load(path string) (Vocabulary, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Vocabulary{}, fmt.Errorf("vocabulary file: %w", err)
	}
	v, err := Parse(data)
	if err != nil {
		return Vocabulary{}, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// Parse reads the contents of a vocabulary file (see Load).
func Parse(data []byte) (Vocabulary, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Vocabulary{}, errors.New("vocabulary: the file is empty: want an object of names to values, e.g. {\"error.missingInput\": \"ACME-2001\"}")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Vocabulary{}, fmt.Errorf("vocabulary: not JSON or YAML: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return Vocabulary{}, errors.New("vocabulary: want an object of names to values, e.g. {\"error.missingInput\": \"ACME-2001\"}")
	}
	m := doc.Content[0]
	values := map[Key]string{}
	var problems []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, val := m.Content[i], m.Content[i+1]
		if _, dup := values[Key(k.Value)]; dup {
			problems = append(problems, fmt.Sprintf("line %d: %q given twice", k.Line, k.Value))
			continue
		}
		if val.Kind != yaml.ScalarNode || val.Tag != "!!str" {
			problems = append(problems, fmt.Sprintf("line %d: %q: the value must be a string", val.Line, k.Value))
			continue
		}
		values[Key(k.Value)] = val.Value
	}
	if len(problems) > 0 {
		return Vocabulary{}, fmt.Errorf("vocabulary: %s", joinProblems(problems))
	}
	return New(values)
}

func joinProblems(p []string) string {
	var b bytes.Buffer
	for i, s := range p {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s)
	}
	return b.String()
}

package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// A JSON body with a large member (the report's base64 text in a delivery) is read member by
// member from the wire: that member's string is handed over as it arrives, unescaped, and
// never held whole; every other member is captured raw, within a small budget, and checked as
// decodeObject's members are. Held in memory at once: the other members and a read buffer.

// errMembersTooLarge: the members other than the streamed one exceed their budget.
var errMembersTooLarge = errors.New("the body's other members are too large")

// jsonSyntaxError is a malformed body, at a byte offset of it.
type jsonSyntaxError struct {
	off int64
	msg string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte offset %d: %s", e.off, e.msg)
}

// objectStream reads one JSON object from r.
type objectStream struct {
	r         *bufio.Reader
	off       int64 // bytes consumed
	budget    int64 // bytes the members other than the streamed one may still take
	streaming bool  // within the streamed string: not counted against budget
}

// streamObject reads exactly one JSON object from r. The string value of the member named
// streamed is passed to onString as a reader of its unescaped text; what onString leaves
// unread is skipped. Any other value of that member is kept raw like the others, null is
// absent. Every other member is captured raw, budget bytes at most in all (beyond:
// errMembersTooLarge). A malformed body is reported in the object (a problem at "", as
// decodeObject does); err is for a failed read, or onString's error.
func streamObject(r io.Reader, budget int64, streamed string, onString func(io.Reader) error) (*object, error) {
	o := &object{members: map[string]json.RawMessage{}, used: map[string]bool{}}
	s := &objectStream{r: bufio.NewReaderSize(r, 32<<10), budget: budget}
	err := s.object(o, streamed, onString)
	var se *jsonSyntaxError
	switch {
	case errors.As(err, &se):
		o.invalid = true
		o.probs = nil
		o.add("", se.Error())
		return o, nil
	case errors.Is(err, io.EOF) && s.off == 0:
		o.invalid = true
		o.add("", "invalid JSON: empty body")
		return o, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		o.invalid = true
		o.add("", "invalid JSON: unexpected end of input")
		return o, nil
	}
	return o, err
}

func (s *objectStream) object(o *object, streamed string, onString func(io.Reader) error) error {
	c, err := s.next()
	if err != nil {
		return err
	}
	if c != '{' {
		raw, err := s.value(c)
		if err != nil {
			return err
		}
		if json.Valid(raw) {
			o.invalid = true
			o.add("", "must be a JSON object")
			return nil
		}
		return s.syntax("not a JSON value")
	}
	if c, err = s.next(); err != nil {
		return err
	}
	for c != '}' {
		if c != '"' {
			return s.syntax("want a member name in double quotes")
		}
		if err := s.member(o, streamed, onString); err != nil {
			return err
		}
		if c, err = s.next(); err != nil {
			return err
		}
		switch c {
		case ',':
			if c, err = s.next(); err != nil {
				return err
			}
			if c == '}' {
				return s.syntax("want a member after ','")
			}
		case '}':
		default:
			return s.syntax("want ',' or '}' after a member")
		}
	}
	switch _, err := s.next(); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	}
	o.add("", "invalid JSON: unexpected data after the top-level value")
	return nil
}

// member reads a member from after the opening quote of its name to the end of its value.
func (s *objectStream) member(o *object, streamed string, onString func(io.Reader) error) error {
	name, err := s.name()
	if err != nil {
		return err
	}
	c, err := s.next()
	if err != nil {
		return err
	}
	if c != ':' {
		return s.syntax("want ':' after a member name")
	}
	if c, err = s.next(); err != nil {
		return err
	}
	_, dup := o.members[name]
	switch {
	case dup:
		o.add(pointerTo(name), "given more than once")
		_, err := s.value(c)
		return err
	case name == streamed && c == '"':
		o.members[name] = json.RawMessage(`""`) // present; its text went to onString
		return s.stream(onString)
	}
	raw, err := s.value(c)
	if err != nil {
		return err
	}
	if !json.Valid(raw) {
		return s.syntax("invalid value of member " + pointerTo(name))
	}
	o.members[name] = raw
	return nil
}

// stream hands the string starting after the opening quote to onString, then skips what it
// left.
func (s *objectStream) stream(onString func(io.Reader) error) error {
	s.streaming = true
	defer func() { s.streaming = false }()
	sr := &stringReader{s: s}
	if err := onString(wireReader{sr}); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, sr)
	return err
}

// wireError is a failure to read the body itself (cut off, malformed JSON, too large), as
// opposed to an error of what its text holds: the base64 in it, say.
type wireError struct{ Err error }

func (e *wireError) Error() string { return e.Err.Error() }
func (e *wireError) Unwrap() error { return e.Err }

// wireReader marks its reader's errors as wireErrors, io.EOF aside.
type wireReader struct{ r io.Reader }

func (w wireReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &wireError{err}
	}
	return n, err
}

func (s *objectStream) syntax(msg string) error { return &jsonSyntaxError{off: s.off, msg: msg} }

// readByte consumes one byte, counted against the budget outside the streamed string.
func (s *objectStream) readByte() (byte, error) {
	if !s.streaming {
		if s.budget <= 0 {
			return 0, errMembersTooLarge
		}
		s.budget--
	}
	c, err := s.r.ReadByte()
	if err == nil {
		s.off++
	}
	return c, err
}

// next returns the next byte that is not white space.
func (s *objectStream) next() (byte, error) {
	for {
		c, err := s.readByte()
		if err != nil || !isSpace(c) {
			return c, err
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// name reads a member name (after its opening quote), unescaped; bytes that are not UTF-8
// become U+FFFD, as encoding/json decodes them.
func (s *objectStream) name() (string, error) {
	var b bytes.Buffer
	if _, err := io.Copy(&b, &stringReader{s: s}); err != nil {
		return "", err
	}
	if !utf8.Valid(b.Bytes()) {
		return string([]rune(b.String())), nil
	}
	return b.String(), nil
}

// value captures the raw JSON value that starts with c: a string, an object or an array
// whole, or a literal up to the next delimiter. Its validity is checked by the caller.
func (s *objectStream) value(c byte) ([]byte, error) {
	raw := []byte{c}
	depth, inString, escaped := 0, c == '"', false
	switch c {
	case '{', '[':
		depth = 1
	case '"':
	default: // a number, true, false or null: up to the next delimiter
		for {
			b, err := s.r.Peek(1)
			if errors.Is(err, io.EOF) || err == nil && bytes.IndexByte([]byte(",}] \t\n\r"), b[0]) >= 0 {
				return raw, nil
			}
			if err != nil {
				return nil, err
			}
			c, err := s.readByte()
			if err != nil {
				return nil, err
			}
			raw = append(raw, c)
		}
	}
	for depth > 0 || inString {
		c, err := s.readByte()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		raw = append(raw, c)
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	return raw, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// stringReader reads a JSON string's text, unescaped, from after its opening quote to its
// closing quote (then io.EOF).
type stringReader struct {
	s    *objectStream
	done bool
	rest []byte // unescaped bytes not yet returned (a \u escape's UTF-8)
}

func (r *stringReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.rest) > 0 {
			k := copy(p[n:], r.rest)
			r.rest, n = r.rest[k:], n+k
			continue
		}
		if r.done {
			break
		}
		// Copy the run of plain characters already buffered in one go.
		buf, _ := r.s.r.Peek(r.s.r.Buffered())
		run := 0
		for run < len(buf) && run < len(p)-n && buf[run] != '"' && buf[run] != '\\' && buf[run] >= 0x20 {
			run++
		}
		if !r.s.streaming && int64(run) > r.s.budget {
			run = int(r.s.budget)
		}
		if run > 0 {
			copy(p[n:], buf[:run])
			_, _ = r.s.r.Discard(run)
			r.s.off += int64(run)
			if !r.s.streaming {
				r.s.budget -= int64(run)
			}
			n += run
			continue
		}
		c, err := r.s.readByte()
		if err != nil {
			return n, unexpectedEOF(err)
		}
		switch {
		case c == '"':
			r.done = true
		case c == '\\':
			if err := r.escape(); err != nil {
				return n, err
			}
		case c < 0x20:
			return n, r.s.syntax("control character in a string")
		default:
			p[n] = c
			n++
		}
	}
	if n == 0 && r.done {
		return 0, io.EOF
	}
	return n, nil
}

// escape decodes the escape after a backslash into rest.
func (r *stringReader) escape() error {
	c, err := r.s.readByte()
	if err != nil {
		return unexpectedEOF(err)
	}
	switch c {
	case '"', '\\', '/':
		r.rest = []byte{c}
	case 'b':
		r.rest = []byte{'\b'}
	case 'f':
		r.rest = []byte{'\f'}
	case 'n':
		r.rest = []byte{'\n'}
	case 'r':
		r.rest = []byte{'\r'}
	case 't':
		r.rest = []byte{'\t'}
	case 'u':
		var digits [4]byte
		for i := range digits {
			if digits[i], err = r.s.readByte(); err != nil {
				return unexpectedEOF(err)
			}
		}
		v, ok := hex4(digits[:])
		if !ok {
			return r.s.syntax(`invalid \u escape in a string`)
		}
		// A surrogate pair is one character, as encoding/json decodes it; a lone
		// surrogate is U+FFFD.
		if utf16.IsSurrogate(v) {
			if b, err := r.s.r.Peek(6); err == nil && b[0] == '\\' && b[1] == 'u' {
				if lo, ok := hex4(b[2:]); ok {
					if pair := utf16.DecodeRune(v, lo); pair != utf8.RuneError {
						for range 6 {
							if _, err := r.s.readByte(); err != nil {
								return err
							}
						}
						v = pair
					}
				}
			}
		}
		r.rest = utf8.AppendRune(nil, v)
	default:
		return r.s.syntax("invalid escape in a string")
	}
	return nil
}

// hex4 reads four hex digits.
func hex4(b []byte) (rune, bool) {
	var v rune
	for _, c := range b[:4] {
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		v = v<<4 | d
	}
	return v, true
}

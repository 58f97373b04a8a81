package rls

import (
	"errors"
	"strconv"
	"strings"

	"github.com/breakwater/breakwater/internal/minijson"
)

// errType is a JSON value of the wrong type for its field.
var errType = errors.New("rls: value of the wrong type")

// unmarshal decodes body into w as encoding/json.Unmarshal does, without
// reflection: the same syntax errors (message and offset), object keys
// matched to fields case-insensitively (strings.EqualFold, as
// encoding/json), unknown keys skipped, null leaving a value unchanged
// (a pointer or a slice set to nil), an array decoded into the elements
// already there, and an error for a value of the wrong type (an integer
// field takes only a base-10 literal in int64's range).
func unmarshal(body []byte, w *wireResponse) error {
	if se := minijson.CheckValid(body); se != nil {
		return se
	}
	d := &decoder{}
	d.t.Reset(body)
	return d.response(w)
}

type decoder struct {
	t minijson.Tokenizer
}

// object calls field for each key of the object whose '{' was just read,
// then reads its '}'.
func (d *decoder) object(field func(key string) error) error {
	for d.t.More() {
		k, err := d.t.Token()
		if err != nil {
			return err
		}
		key, _ := k.(string)
		if err := field(key); err != nil {
			return err
		}
	}
	_, err := d.t.Token()
	return err
}

// skip reads one value whose first token is tok.
func (d *decoder) skip(tok any) error {
	if _, ok := tok.(minijson.Delim); !ok {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := d.t.Token()
		if err != nil {
			return err
		}
		switch tok {
		case minijson.Delim('['), minijson.Delim('{'):
			depth++
		case minijson.Delim(']'), minijson.Delim('}'):
			depth--
		}
	}
	return nil
}

// str decodes a string value into s.
func (d *decoder) str(s *string) error {
	tok, err := d.t.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case nil:
		return nil
	case string:
		*s = v
		return nil
	}
	return errType
}

// int decodes an integer value into n.
func (d *decoder) int(n *int64) error {
	tok, err := d.t.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case nil:
		return nil
	case minijson.Number:
		i, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return errType
		}
		*n = i
		return nil
	}
	return errType
}

// begin reads the first token of an object value: ok is false for null.
func (d *decoder) begin() (ok bool, err error) {
	tok, err := d.t.Token()
	if err != nil {
		return false, err
	}
	switch tok {
	case nil:
		return false, nil
	case minijson.Delim('{'):
		return true, nil
	}
	return false, errType
}

func (d *decoder) response(w *wireResponse) error {
	if ok, err := d.begin(); !ok {
		return err
	}
	return d.object(func(key string) error {
		switch {
		case strings.EqualFold(key, "overallCode"):
			return d.str(&w.OverallCode)
		case strings.EqualFold(key, "statuses"):
			return d.statuses(&w.Statuses)
		}
		tok, err := d.t.Token()
		if err != nil {
			return err
		}
		return d.skip(tok)
	})
}

func (d *decoder) statuses(ss *[]wireStatus) error {
	tok, err := d.t.Token()
	if err != nil {
		return err
	}
	switch tok {
	case nil:
		*ss = nil
		return nil
	case minijson.Delim('['):
	default:
		return errType
	}
	s := *ss
	i := 0
	for ; d.t.More(); i++ {
		if i >= len(s) {
			if i < cap(s) {
				s = s[:i+1]
			} else {
				s = append(s, wireStatus{})
			}
		}
		if err := d.status(&s[i]); err != nil {
			return err
		}
	}
	if _, err := d.t.Token(); err != nil {
		return err
	}
	if i == 0 {
		s = []wireStatus{}
	}
	*ss = s[:i]
	return nil
}

func (d *decoder) status(s *wireStatus) error {
	if ok, err := d.begin(); !ok {
		return err
	}
	return d.object(func(key string) error {
		switch {
		case strings.EqualFold(key, "code"):
			return d.str(&s.Code)
		case strings.EqualFold(key, "currentLimit"):
			return d.currentLimit(s)
		case strings.EqualFold(key, "limitRemaining"):
			return d.int(&s.LimitRemaining)
		case strings.EqualFold(key, "durationUntilReset"):
			return d.str(&s.DurationUntilReset)
		}
		tok, err := d.t.Token()
		if err != nil {
			return err
		}
		return d.skip(tok)
	})
}

func (d *decoder) currentLimit(s *wireStatus) error {
	tok, err := d.t.Token()
	if err != nil {
		return err
	}
	switch tok {
	case nil:
		s.CurrentLimit = nil
		return nil
	case minijson.Delim('{'):
	default:
		return errType
	}
	if s.CurrentLimit == nil {
		s.CurrentLimit = new(currentLimit)
	}
	c := s.CurrentLimit
	return d.object(func(key string) error {
		switch {
		case strings.EqualFold(key, "requestsPerUnit"):
			return d.int(&c.RequestsPerUnit)
		case strings.EqualFold(key, "unit"):
			return d.str(&c.Unit)
		}
		tok, err := d.t.Token()
		if err != nil {
			return err
		}
		return d.skip(tok)
	})
}

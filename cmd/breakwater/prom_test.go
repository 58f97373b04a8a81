package main

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// A strict reader of the Prometheus text exposition format 0.0.4, enough to
// prove /stats/prometheus is well formed: every line is "# TYPE name type",
// "# HELP name text" or a sample "name{labels} value [timestamp]"; every
// sample belongs to the family declared by the TYPE line just above it
// (name, or name_bucket/_sum/_count for histograms and summaries); no
// family is declared twice, no sample repeats; histogram buckets are
// cumulative and end with le="+Inf" equal to _count; counters are >= 0;
// the text ends with a newline and has no blank lines.

type promFamily struct {
	name, typ string
	samples   map[string]float64           // "name{labels}" as written -> value
	labels    map[string]map[string]string // sample key -> its labels
	order     []string
}

var (
	promName  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promLabel = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func parsePrometheus(text string) (map[string]*promFamily, error) {
	fams := map[string]*promFamily{}
	if text == "" {
		return fams, nil
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("does not end with a newline")
	}
	var cur *promFamily
	seen := map[string]bool{}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		lineNo := n + 1
		if line == "" {
			return nil, fmt.Errorf("line %d: blank line", lineNo)
		}
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) < 3 || f[0] != "#" || (f[1] != "TYPE" && f[1] != "HELP") {
				return nil, fmt.Errorf("line %d: comment that is neither TYPE nor HELP: %q", lineNo, line)
			}
			if !promName.MatchString(f[2]) {
				return nil, fmt.Errorf("line %d: bad metric name %q", lineNo, f[2])
			}
			if f[1] == "HELP" {
				continue
			}
			if len(f) != 4 {
				return nil, fmt.Errorf("line %d: TYPE without a type", lineNo)
			}
			switch f[3] {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return nil, fmt.Errorf("line %d: unknown type %q", lineNo, f[3])
			}
			if fams[f[2]] != nil {
				return nil, fmt.Errorf("line %d: family %s declared twice", lineNo, f[2])
			}
			cur = &promFamily{name: f[2], typ: f[3], samples: map[string]float64{}, labels: map[string]map[string]string{}}
			fams[f[2]] = cur
			continue
		}
		name, labels, value, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v: %q", lineNo, err, line)
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: sample before any TYPE line: %q", lineNo, line)
		}
		allowed := map[string]bool{cur.name: true}
		if cur.typ == "histogram" || cur.typ == "summary" {
			allowed = map[string]bool{cur.name + "_sum": true, cur.name + "_count": true}
			if cur.typ == "histogram" {
				allowed[cur.name+"_bucket"] = true
			} else {
				allowed[cur.name] = true
			}
		}
		if !allowed[name] {
			return nil, fmt.Errorf("line %d: sample %s outside its family %s (%s)", lineNo, name, cur.name, cur.typ)
		}
		if name == cur.name+"_bucket" && labels["le"] == "" {
			return nil, fmt.Errorf("line %d: bucket without le", lineNo)
		}
		if cur.typ == "counter" && (value < 0 || math.IsNaN(value)) {
			return nil, fmt.Errorf("line %d: counter %s = %v", lineNo, name, value)
		}
		key := sampleKey(name, labels)
		if seen[key] {
			return nil, fmt.Errorf("line %d: duplicate sample %s", lineNo, key)
		}
		seen[key] = true
		cur.samples[key] = value
		cur.labels[key] = labels
		cur.order = append(cur.order, key)
	}
	for _, f := range fams {
		if len(f.samples) == 0 {
			return nil, fmt.Errorf("family %s has no sample", f.name)
		}
		if f.typ == "histogram" {
			if err := checkHistogram(f); err != nil {
				return nil, err
			}
		}
	}
	return fams, nil
}

// parseSample reads `name{k="v",...} value [timestamp]` (braces optional).
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return "", nil, 0, fmt.Errorf("no value")
	}
	name, rest := line[:i], line[i:]
	if !promName.MatchString(name) {
		return "", nil, 0, fmt.Errorf("bad metric name %q", name)
	}
	labels = map[string]string{}
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq <= 0 || !promLabel.MatchString(rest[:eq]) {
				return "", nil, 0, fmt.Errorf("bad label")
			}
			lname := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					switch rest[j+1] {
					case '\\', '"':
						val.WriteByte(rest[j+1])
					case 'n':
						val.WriteByte('\n')
					default:
						return "", nil, 0, fmt.Errorf("bad escape in label value")
					}
					j++
					continue
				}
				if c == '"' {
					rest = rest[j+1:]
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return "", nil, 0, fmt.Errorf("unterminated label value")
			}
			if _, dup := labels[lname]; dup {
				return "", nil, 0, fmt.Errorf("label %s twice", lname)
			}
			labels[lname] = val.String()
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
			} else if !strings.HasPrefix(rest, "}") {
				return "", nil, 0, fmt.Errorf("want , or } after a label")
			}
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return "", nil, 0, fmt.Errorf("want one space before the value")
	}
	f := strings.Split(rest[1:], " ")
	if len(f) < 1 || len(f) > 2 || f[0] == "" {
		return "", nil, 0, fmt.Errorf("want `value [timestamp]`")
	}
	switch f[0] {
	case "+Inf":
		value = math.Inf(1)
	case "-Inf":
		value = math.Inf(-1)
	case "NaN":
		value = math.NaN()
	default:
		if value, err = strconv.ParseFloat(f[0], 64); err != nil {
			return "", nil, 0, fmt.Errorf("bad value %q", f[0])
		}
	}
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return "", nil, 0, fmt.Errorf("bad timestamp %q", f[1])
		}
	}
	return name, labels, value, nil
}

// sampleKey is name{k="v",...} with the labels sorted: "name{}" without labels.
func sampleKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(labels[k])
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// checkHistogram checks each series of a histogram family (the samples
// with the same labels apart from le): buckets with increasing le,
// cumulative, ending with le="+Inf" equal to its _count, and a _sum.
func checkHistogram(f *promFamily) error {
	type bucket struct {
		le float64
		n  float64
	}
	series := map[string][]bucket{} // labels without le -> buckets in order
	var names []string
	for _, k := range f.order {
		if !strings.HasPrefix(k, f.name+"_bucket{") {
			continue
		}
		ls := map[string]string{}
		for n, v := range f.labels[k] {
			if n != "le" {
				ls[n] = v
			}
		}
		le, err := strconv.ParseFloat(strings.Replace(f.labels[k]["le"], "+Inf", "Inf", 1), 64)
		if err != nil {
			return fmt.Errorf("%s: bad le %q", f.name, f.labels[k]["le"])
		}
		id := sampleKey("", ls)
		if series[id] == nil {
			names = append(names, id)
		}
		series[id] = append(series[id], bucket{le, f.samples[k]})
	}
	if len(series) == 0 {
		return fmt.Errorf("%s: no buckets", f.name)
	}
	for _, id := range names {
		bs := series[id]
		if !math.IsInf(bs[len(bs)-1].le, 1) {
			return fmt.Errorf("%s%s: no le=\"+Inf\" bucket last", f.name, id)
		}
		for i := 1; i < len(bs); i++ {
			if bs[i].le <= bs[i-1].le || bs[i].n < bs[i-1].n {
				return fmt.Errorf("%s%s: buckets not increasing and cumulative at le=%v", f.name, id, bs[i].le)
			}
		}
		count, ok := f.samples[f.name+"_count"+id]
		if _, okSum := f.samples[f.name+"_sum"+id]; !ok || !okSum {
			return fmt.Errorf("%s%s: _sum or _count missing", f.name, id)
		}
		if count != bs[len(bs)-1].n {
			return fmt.Errorf("%s%s: +Inf bucket %v != count %v", f.name, id, bs[len(bs)-1].n, count)
		}
	}
	return nil
}

// The reader refuses what it must refuse (so a pass in the serve test means
// something).
func TestParsePrometheusStrict(t *testing.T) {
	good := "# TYPE a counter\na{} 1\n# HELP h x y\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum{} 3.5\nh_count{} 2\n# TYPE g gauge\ng{k=\"v\\\"\"} -2 1700000000\n"
	fams, err := parsePrometheus(good)
	if err != nil {
		t.Fatal(err)
	}
	if fams["a"].samples["a{}"] != 1 || fams["g"].samples[`g{k="v\""}`] != -2 || fams["h"].samples["h_count{}"] != 2 {
		t.Fatalf("values: %+v %+v %+v", fams["a"], fams["g"], fams["h"])
	}
	for name, bad := range map[string]string{
		"no newline":          "# TYPE a counter\na{} 1",
		"blank line":          "# TYPE a counter\n\na{} 1\n",
		"no TYPE":             "a{} 1\n",
		"other family":        "# TYPE a counter\nb{} 1\n",
		"bad name":            "# TYPE a.b counter\na.b{} 1\n",
		"no value":            "# TYPE a counter\na{}\n",
		"two spaces":          "# TYPE a counter\na{}  1\n",
		"bad value":           "# TYPE a counter\na{} one\n",
		"negative counter":    "# TYPE a counter\na{} -1\n",
		"duplicate sample":    "# TYPE a counter\na{} 1\na{} 2\n",
		"duplicate family":    "# TYPE a counter\na{} 1\n# TYPE a counter\n",
		"unknown type":        "# TYPE a meter\na{} 1\n",
		"bare comment":        "# hello\n",
		"unterminated label":  "# TYPE a counter\na{k=\"v} 1\n",
		"label syntax":        "# TYPE a counter\na{k=v} 1\n",
		"histogram count":     "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum{} 1\nh_count{} 3\n",
		"histogram no inf":    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum{} 1\nh_count{} 2\n",
		"histogram decreases": "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum{} 1\nh_count{} 2\n",
		"empty family":        "# TYPE a counter\n",
		"labelled series":     "# TYPE h histogram\nh_bucket{p=\"a\",le=\"+Inf\"} 2\nh_sum{p=\"a\"} 1\nh_count{p=\"a\"} 2\nh_bucket{p=\"b\",le=\"+Inf\"} 1\nh_sum{p=\"b\"} 1\nh_count{p=\"a\"} 1\n",
	} {
		if _, err := parsePrometheus(bad); err == nil {
			t.Errorf("%s: accepted %q", name, bad)
		}
	}
}

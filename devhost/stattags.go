package devhost

import (
	"fmt"
	"regexp"
	"strings"
)

// StatsTag is one tag specifier of Envoy's stats_config.stats_tags in its
// regex form (config.metrics.v3.TagSpecifier tag_name and regex).
type StatsTag struct {
	Name  string
	Regex string
}

// Label is one tag of a stat: a Prometheus label once exported.
type Label struct {
	Name, Value string
}

type tagExtractor struct {
	name   string
	re     *regexp.Regexp
	groups int
}

// compileStatsTags checks tags as Envoy's TagProducerImpl does: a name
// given twice is an error ("Tag name '...' specified twice"), and a
// specifier without a regex would name one of Envoy's default extractors,
// which the dev host does not have. Go's regexp (RE2) stands for Envoy's
// std::regex (ECMAScript); the two agree on the patterns tags use (groups,
// lazy quantifiers, escapes), not on lookaheads, which RE2 rejects here.
func compileStatsTags(tags []StatsTag) ([]tagExtractor, error) {
	seen := map[string]bool{}
	out := make([]tagExtractor, 0, len(tags))
	for i, t := range tags {
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("devhost: options: StatsTags[%d]: empty tag name", i)
		case seen[t.Name]:
			return nil, fmt.Errorf("devhost: options: StatsTags[%d]: tag name %q specified twice", i, t.Name)
		case t.Regex == "":
			return nil, fmt.Errorf("devhost: options: StatsTags[%d] (%s): no regex (Envoy's default tag extractors are not implemented)", i, t.Name)
		}
		seen[t.Name] = true
		re, err := regexp.Compile(t.Regex)
		if err != nil {
			return nil, fmt.Errorf("devhost: options: StatsTags[%d] (%s): %v", i, t.Name, err)
		}
		out = append(out, tagExtractor{name: t.Name, re: re, groups: re.NumSubexp()})
	}
	return out, nil
}

// extractTags applies the extractors to a full stat name the way Envoy's
// TagProducerImpl::produceTags and TagExtractorStdRegexImpl::extractTag do:
// every extractor searches the original name (not what an earlier one
// left), once; a regex without a capture group never yields a tag; on a
// match the tag's value is the second capture group when the regex has one
// (empty when it did not take part), else the first; the first group's span
// is removed from the name once all extractors ran. It returns the
// tag-extracted name and the tags in extractor order.
func extractTags(name string, ex []tagExtractor) (string, []Label) {
	var labels []Label
	var remove []bool
	for _, e := range ex {
		if e.groups < 1 {
			continue
		}
		m := e.re.FindStringSubmatchIndex(name)
		if m == nil {
			continue
		}
		vi := 2 // group 1
		if e.groups >= 2 {
			vi = 4 // group 2
		}
		var value string
		if m[vi] >= 0 {
			value = name[m[vi]:m[vi+1]]
		}
		labels = append(labels, Label{e.name, value})
		if m[2] >= 0 && m[3] > m[2] {
			if remove == nil {
				remove = make([]bool, len(name))
			}
			for i := m[2]; i < m[3]; i++ {
				remove[i] = true
			}
		}
	}
	if remove == nil {
		return name, labels
	}
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		if !remove[i] {
			b.WriteByte(name[i])
		}
	}
	return b.String(), labels
}

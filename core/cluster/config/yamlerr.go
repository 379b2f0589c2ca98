package config

import (
	"errors"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	// yaml.v3 names the Go types of the fields it fills in.
	notFoundRE = regexp.MustCompile(`field (\S+) not found in type \S+`)
	intoRE     = regexp.MustCompile(`cannot unmarshal (!!\w+) ` + "`([^`]*)`" + ` into (\S+)`)
	intoBareRE = regexp.MustCompile(`cannot unmarshal (!!\w+) into (\S+)`)
)

// yamlError is a decoding error in the file's words, one line: "line 3:
// field listen_adr is not a setting here", never a Go type.
func yamlError(err error) error {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{err.Error()}
	}
	for i, l := range lines {
		l = strings.TrimPrefix(l, "yaml: ")
		l = notFoundRE.ReplaceAllString(l, "field $1 is not a setting here (check its spelling and indentation)")
		l = intoRE.ReplaceAllStringFunc(l, func(m string) string {
			s := intoRE.FindStringSubmatch(m)
			return "\"" + s[2] + "\" is not " + typeWords(s[3])
		})
		l = intoBareRE.ReplaceAllStringFunc(l, func(m string) string {
			s := intoBareRE.FindStringSubmatch(m)
			return "this " + kindWords(s[1]) + " is not " + typeWords(s[2])
		})
		lines[i] = l
	}
	return errors.New(strings.Join(lines, "; "))
}

// typeWords says what a Go type expects, in a config file's terms.
func typeWords(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration (such as 30s, 10m, 12h)"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "a list (- item)"
	default: // maps and structs
		return "a mapping (key: value)"
	}
}

func kindWords(tag string) string {
	switch tag {
	case "!!seq":
		return "list"
	case "!!map":
		return "mapping"
	default:
		return "value"
	}
}

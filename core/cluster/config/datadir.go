package config

import (
	"bufio"
	"bytes"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// DataDir is data_dir of the cluster.yaml at path, read without parsing
// the rest of the file: 'vnet ctl' needs only it (for the admin identity),
// and a file with 100,000 apps took seconds to parse at every call (issue
// 13). It reads the top-level "data_dir:" line; a file without one
// ("data_dir" nowhere) has the default, and one that sets it in any other
// form is loaded whole.
func DataDir(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data_dir:") {
			continue
		}
		var v struct {
			DataDir string `yaml:"data_dir"`
		}
		if yaml.Unmarshal([]byte(line), &v) == nil && v.DataDir != "" {
			return v.DataDir, nil
		}
		break
	}
	if !bytes.Contains(data, []byte("data_dir")) {
		return defaultDataDir, nil
	}
	f, err := Load(path)
	if err != nil {
		return "", err
	}
	return f.DataDir, nil
}

package resource

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestScratch(t *testing.T) {
	in := []string{
		"kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n  ipv4_cidr_range: 10.0.0.0/33\n",
		"kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n  custom_dns_zones:\n  - sufix: a.b\n",
		"kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n  custom_dns_zones: {a: b}\n",
		"kind: app\nversion: v1\nmetadata:\n  name: x\n  name: y\nspec: {uri: tcp://a:1}\n",
		"kind: app\nversion: v1\nmetadata:\n  name: x\nspec: {uri: tcp://a:1, public_addr: 5}\n",
		"kind: app\nversion: v1\nmetadata: &m\n  name: x\nspec:\n  <<: *m\n",
		"kind: app\n\tversion: v1\n",
		"",
		"---\n",
		"kind: app\n---\n",
		"kind: app\n---\nkind: app\n",
		"[1,2]", "---\n---\nkind: app\nversion: v1\nmetadata: {name: a}\nspec: {uri: \"tcp://h:1\"}\n---\n",
		"{\n\t\"kind\": \"app\",\n\t\"version\": \"v1\",\n\t\"metadata\": {\n\t\t\"name\": \"x\"\n\t},\n\t\"spec\": {\"uri\": \"tcp://h:1\"}\n}",
	}
	for _, s := range in {
		r, err := Parse([]byte(s))
		fmt.Printf("%q\n  -> %v %v\n", s, r, err)
	}
	b, _ := json.MarshalIndent(DefaultVNetConfig(), "", "\t")
	r, err := Parse(b)
	fmt.Println(string(b), r, err)
	b, err = Marshal(DefaultVNetConfig())
	fmt.Println(string(b), err)
}

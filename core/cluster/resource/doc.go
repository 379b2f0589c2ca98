// Package resource defines the cluster's YAML resources and validates them.
//
// Every resource has the shape kind / version / metadata / spec. Parse reads
// one resource from YAML (or JSON), picks its Go type by kind, rejects
// unknown fields and validates it; Marshal writes it back. A resource that
// fails validation is reported in one line that names the kind, the
// resource, the field path and what is wrong, for example:
//
//	vnet_config "vnet-config": spec.ipv4_cidr_range: "10.0.0.0/33" is not a valid CIDR range
package resource

// Package dnstest provides fakes of the seams of package dns (Resolver
// and Upstream) for tests of dns and of the packages that use it.
package dnstest

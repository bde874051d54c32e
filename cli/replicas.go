package cli

// --partner-url of the sandbox may name several API replicas, comma-separated: webhooks are
// spread over them (sandbox.Config.PartnerURLs), POS package events go to the first.

// firstReplica is the first URL of a comma-separated list ("" for none: the sandbox's
// default then applies).
func firstReplica(list string) string {
	if urls := splitList(list); len(urls) > 0 {
		return urls[0]
	}
	return ""
}

// partnerReplicas is the list when it names more than one URL, else nil (one partner URL).
func partnerReplicas(list string) []string {
	if urls := splitList(list); len(urls) > 1 {
		return urls
	}
	return nil
}

"""What the vendor connectors share: money in minor units, signature checks, the purchase
and return a vendor's payload maps to, the webhook receiving flow, and the job that records them."""

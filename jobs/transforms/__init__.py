"""DataFrame → DataFrame functions the stages share."""

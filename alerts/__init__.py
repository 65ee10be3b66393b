"""Alerts on stuck or drifting runs: rules from the config file, continuous evaluation, notifications."""

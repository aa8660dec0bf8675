"""Unit tests of hello-service (standard library unittest: the base image has no pytest)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import app  # noqa: E402


class GreetingTest(unittest.TestCase):
    def test_reads_greeting_from_json(self):
        self.assertEqual(app.parse_greeting('{"greeting": "Hi"}', "Hello"), "Hi")

    def test_falls_back_on_bad_or_missing(self):
        self.assertEqual(app.parse_greeting("not json", "Hello"), "Hello")
        self.assertEqual(app.parse_greeting('{"other": 1}', "Hello"), "Hello")
        self.assertEqual(app.parse_greeting('["x"]', "Hello"), "Hello")

    def test_render_starts_with_greeting_and_host(self):
        self.assertTrue(app.render("Hi", "pod-1").startswith("Hi (from pod-1"))


if __name__ == "__main__":
    unittest.main()

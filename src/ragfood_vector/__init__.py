"""A local stand-in for the Upstash Vector REST API (dev and test infrastructure only).

Start it with ``ragfood vector serve`` or, from tests, with
:class:`ragfood_vector.launcher.VectorServer`. The product package ``ragfood`` never imports it.
"""

"""The benchmarks (``python manage.py bench``): one package that may import
both apps, with its registry (``arbsite.bench.registry``)."""

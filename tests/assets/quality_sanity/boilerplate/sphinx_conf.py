# Configuration file for the Sphinx documentation builder.

project = "acme-widgets"
copyright = "2021, ACME Corp"
author = "ACME Corp"
release = "2.4.1"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

html_theme = "alabaster"
html_static_path = ["_static"]
html_theme_options = {"github_user": "acme", "github_repo": "widgets"}

intersphinx_mapping = {"python": ("https://docs.python.org/3", None)}
autodoc_default_options = {"members": True, "undoc-members": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

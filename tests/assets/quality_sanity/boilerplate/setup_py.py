from setuptools import find_packages, setup

setup(
    name="acme-widgets",
    version="2.4.1",
    author="ACME Corp",
    author_email="dev@acme.example",
    url="https://example.com/acme-widgets",
    packages=find_packages(exclude=["tests", "tests.*"]),
    include_package_data=True,
    install_requires=[
        "requests>=2.20",
        "click>=7.0",
        "pyyaml",
    ],
    extras_require={"dev": ["pytest", "flake8", "black"]},
    entry_points={"console_scripts": ["acme-widgets=acme_widgets.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
        "Operating System :: OS Independent",
    ],
    python_requires=">=3.7",
)

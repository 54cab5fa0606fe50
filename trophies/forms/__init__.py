"""Studio forms: Colander schemas rendered by Deform inside Django.

- ``controls``: the submitted controls in order (urlencoded or multipart);
- ``schemas``: the trophy and parts-library schemas and their rules;
- ``rendering``: Deform's renderer, static resources, validation helpers;
- ``tmpstore``: where uploads wait while a form is shown again.
"""

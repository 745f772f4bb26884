"""What AWS offers an enterprise in a region: hardware profiles (instance types, the zones that offer
them) and machine images for the template catalogue. Read-only: Describe* calls only.

Not to be confused with controller.spec.catalog.Catalog, the index of spec documents. The files this
package writes into the spec tree are read back, without AWS, by controller.spec.hardware.
"""

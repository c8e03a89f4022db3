import tkinter as tk
from tkinter import ttk

from .controller import controller

root = tk.Tk()
root.title("Inventory")
root.geometry("640x480")

frame = ttk.Frame(root, padding=10)
frame.grid(row=0, column=0, sticky="nsew")

ttk.Label(frame, text="SKU").grid(row=0, column=0, sticky="w")
sku_entry = ttk.Entry(frame, width=30)
sku_entry.grid(row=0, column=1, sticky="ew")
ttk.Label(frame, text="Quantity").grid(row=1, column=0, sticky="w")
qty_entry = ttk.Entry(frame, width=10)
qty_entry.grid(row=1, column=1, sticky="w")

add_button = ttk.Button(frame, text="Add", command=lambda: controller.add(sku_entry.get(), qty_entry.get()))
add_button.grid(row=2, column=0)
remove_button = ttk.Button(frame, text="Remove", command=lambda: controller.remove(sku_entry.get()))
remove_button.grid(row=2, column=1)
refresh_button = ttk.Button(frame, text="Refresh", command=controller.refresh)
refresh_button.grid(row=2, column=2)

tree = ttk.Treeview(frame, columns=("sku", "qty", "location"), show="headings")
tree.heading("sku", text="SKU")
tree.heading("qty", text="Qty")
tree.heading("location", text="Location")
tree.grid(row=3, column=0, columnspan=3, sticky="nsew")
tree.bind("<<TreeviewSelect>>", controller.on_select)

root.bind("<Control-q>", lambda event: root.destroy())
root.protocol("WM_DELETE_WINDOW", controller.on_close)
controller.attach(tree, sku_entry, qty_entry)
root.mainloop()
